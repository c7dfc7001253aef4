"""Provider webhooks, mounted under /webhooks/ (config/urls.py)."""

from django.urls import include, path

from crm.notifications import webhooks

app_name = "notifications"

urlpatterns = [
    path("twilio/status/", webhooks.twilio_status, name="twilio-status"),
    # anymail's tracking webhook per provider, e.g. /webhooks/anymail/amazon_ses/tracking/
    path("anymail/", include("anymail.urls")),
]
