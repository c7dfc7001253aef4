from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from crm import views as crm_views
from crm.admin_site import admin_site

urlpatterns = [
    path("", crm_views.home, name="home"),
    path("healthz", crm_views.healthz, name="healthz"),
    path("accounts/", include("crm.urls")),
    path("claim/", include("claims.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("verification/", include("verification.urls")),
    path("admin/", admin_site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("webhooks/", include("crm.notifications.urls")),
    # Before rewards' API, whose last pattern answers every other /api/v1/ URL with a 404.
    path("api/v1/dashboards/", include("dashboards.api_urls")),
    path("api/v1/verification/", include("verification.api_urls")),
    path("api/v1/claims/", include("claims.api.urls")),
    path("api/v1/", include("rewards.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
