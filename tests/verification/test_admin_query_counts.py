"""Admin change lists run a fixed number of queries, however many rows they show."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.roles import Role
from tests.claims.factories import InstantWinSchemeFactory
from tests.crm.factories import ChannelPartnerFactory, staff_user
from verification.models import CampaignReviewSettings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_admin(settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _queries(client, url: str) -> int:
    client.get(url)  # warm up: the first request also loads caches (content types, ...)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def _review_settings(count: int) -> None:
    for _ in range(count):
        CampaignReviewSettings.objects.create(
            scheme=InstantWinSchemeFactory(), channel_partner=ChannelPartnerFactory()
        )


def test_review_settings_list_does_not_query_per_channel_partner(client):
    client.force_login(staff_user(Role.OPERATOR, is_superuser=True, is_staff=True))
    url = reverse("admin:verification_campaignreviewsettings_changelist")
    _review_settings(2)
    few = _queries(client, url)
    _review_settings(4)

    assert _queries(client, url) == few
