from django.urls import path

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
]
