"""Admin change lists run a fixed number of queries, however many rows they show."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.roles import Role
from tests.crm.factories import staff_user
from tests.rewards.factories import (
    InstantWinSchemeFactory,
    LuckyDrawSchemeFactory,
    MerchantFactory,
    PrizeFactory,
    make_api_key,
    make_code_batch,
    make_draw,
)

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


def _superuser_client(client):
    client.force_login(staff_user(Role.OPERATOR, is_superuser=True, is_staff=True))
    return client


def test_api_key_list_does_not_query_per_merchant(client):
    _superuser_client(client)
    url = reverse("admin:rewards_apikey_changelist")
    for _ in range(2):
        make_api_key(MerchantFactory())
    few = _queries(client, url)
    for _ in range(4):
        make_api_key(MerchantFactory())

    assert _queries(client, url) == few


def test_draw_list_does_not_count_entries_per_row(client):
    _superuser_client(client)
    url = reverse("admin:rewards_draw_changelist")
    scheme = LuckyDrawSchemeFactory()
    for _ in range(2):
        make_draw(scheme)
    few = _queries(client, url)
    for _ in range(4):
        make_draw(scheme)

    assert _queries(client, url) == few


def test_code_batch_list_does_not_look_up_prizes_per_row(client):
    _superuser_client(client)
    url = reverse("admin:rewards_codebatch_changelist")
    scheme = InstantWinSchemeFactory()
    prize = PrizeFactory(scheme=scheme, quantity_total=1000)
    for _ in range(2):
        make_code_batch(scheme, 2, prize_plan={prize.pk: 1})
    few = _queries(client, url)
    for _ in range(4):
        make_code_batch(scheme, 2, prize_plan={prize.pk: 1})

    assert _queries(client, url) == few
