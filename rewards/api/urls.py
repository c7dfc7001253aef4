from django.urls import path, re_path

from rewards.api import views

app_name = "rewards-api"

urlpatterns = [
    path("participants/", views.ParticipantCreateView.as_view(), name="participant-create"),
    path("participants/lookup/", views.ParticipantLookupView.as_view(), name="participant-lookup"),
    path("participants/<int:pk>/", views.ParticipantDetailView.as_view(), name="participant"),
    path("participants/<int:pk>/wallet/", views.WalletView.as_view(), name="wallet"),
    path(
        "participants/<int:pk>/transactions/",
        views.TransactionsView.as_view(),
        name="transactions",
    ),
    path("events/", views.EventCreateView.as_view(), name="event-create"),
    path("spends/", views.SpendCreateView.as_view(), name="spend-create"),
    path("offers/", views.OfferListView.as_view(), name="offers"),
    # Last: any other URL under the API answers a JSON 404, never the HTML page.
    re_path(r"^[\s\S]*$", views.api_not_found, name="not-found"),  # a newline too
]
