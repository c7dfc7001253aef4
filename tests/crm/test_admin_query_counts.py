"""Admin change lists run a fixed number of queries, however many rows they show."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.roles import Role
from tests.crm.factories import staff_user

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


def test_staff_profile_list_does_not_query_per_channel_partner(client):
    client.force_login(staff_user(Role.OPERATOR, is_superuser=True, is_staff=True))
    url = reverse("admin:crm_staffprofile_changelist")
    for _ in range(2):
        staff_user(Role.CHANNEL_PARTNER)
    few = _queries(client, url)
    for _ in range(4):
        staff_user(Role.CHANNEL_PARTNER)

    assert _queries(client, url) == few
