from django.urls import include, path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("loyalty/", views.loyalty_board_page, name="loyalty-board"),
    path("loyalty/board/", views.loyalty_board_fragment, name="loyalty-board-fragment"),
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/<int:campaign_id>/", views.campaign_page, name="campaign"),
    path("campaigns/<int:campaign_id>/board/", views.campaign_fragment, name="campaign-fragment"),
    path("reports/", include("dashboards.urls_reports")),
]
