from django.urls import include, path

from dashboards import api

app_name = "dashboards-api"

urlpatterns = [
    path("loyalty/", api.LoyaltyBoardView.as_view(), name="loyalty-board"),
    path("loyalty/months/", api.LoyaltyMonthsView.as_view(), name="loyalty-months"),
    path(
        "loyalty/terminations/", api.LoyaltyTerminationsView.as_view(), name="loyalty-terminations"
    ),
    path("loyalty/top-offers/", api.LoyaltyTopOffersView.as_view(), name="loyalty-top-offers"),
    path("loyalty/schemes/", api.LoyaltySchemesView.as_view(), name="loyalty-schemes"),
    path(
        "loyalty/sign-up-units/", api.LoyaltySignUpUnitsView.as_view(), name="loyalty-sign-up-units"
    ),
    path("campaigns/<int:campaign_id>/", api.CampaignDashboardView.as_view(), name="campaign"),
    path(
        "campaigns/<int:campaign_id>/funnel/",
        api.CampaignFunnelView.as_view(),
        name="campaign-funnel",
    ),
    path("campaigns/<int:campaign_id>/days/", api.CampaignDaysView.as_view(), name="campaign-days"),
    path(
        "campaigns/<int:campaign_id>/backlog/",
        api.CampaignBacklogView.as_view(),
        name="campaign-backlog",
    ),
    path(
        "campaigns/<int:campaign_id>/rejection-reasons/",
        api.CampaignRejectionReasonsView.as_view(),
        name="campaign-rejection-reasons",
    ),
    path(
        "campaigns/<int:campaign_id>/prizes/",
        api.CampaignPrizesView.as_view(),
        name="campaign-prizes",
    ),
    path(
        "campaigns/<int:campaign_id>/channel-partners/",
        api.CampaignPartnersView.as_view(),
        name="campaign-channel-partners",
    ),
    path(
        "campaigns/<int:campaign_id>/regions/",
        api.CampaignRegionsView.as_view(),
        name="campaign-regions",
    ),
    path(
        "campaigns/<int:campaign_id>/budget/",
        api.CampaignBudgetView.as_view(),
        name="campaign-budget",
    ),
    path("exports/", include("dashboards.api_urls_exports")),
]
