from django.urls import include, path

from crm import views as crm_views
from crm.admin_site import admin_site

urlpatterns = [
    path("", crm_views.home, name="home"),
    path("healthz", crm_views.healthz, name="healthz"),
    path("accounts/", include("crm.urls")),
    path("admin/", admin_site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
