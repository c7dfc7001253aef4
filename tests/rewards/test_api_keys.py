"""API key authentication: one query for an unknown key, none while a proven key is
cached, and revocation and merchant deactivation honoured (docs/LEDGER.md, "API keys")."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rewards.models import ApiKey
from rewards.services import api_keys
from rewards.services.api_keys import api_key_authenticate, api_key_cache_forget, api_key_revoke
from tests.rewards.factories import make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    api_key_cache_forget()
    yield
    api_key_cache_forget()


def offers(client, key):
    return client.get(reverse("rewards-api:offers"), HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_a_proven_key_is_served_from_the_cache_without_a_query(merchant):
    key = make_api_key(merchant)

    with CaptureQueriesContext(connection) as first:
        found = api_key_authenticate(key)
    with CaptureQueriesContext(connection) as second:
        again = api_key_authenticate(key)

    assert found is not None
    assert found.merchant.pk == merchant.pk
    assert found.merchant.code == merchant.code
    assert len(first.captured_queries) == 1
    assert again is found
    assert len(second.captured_queries) == 0
    assert set(api_keys._cache) == {ApiKey.objects.get().key_hash}


def test_wrong_secrets_unknown_prefixes_and_empty_keys_are_refused_and_not_cached(merchant):
    key = make_api_key(merchant)
    prefix = key.split(".", 1)[0]

    assert api_key_authenticate(prefix + ".wrong-secret") is None
    assert api_key_authenticate("ffffffff.whatever") is None
    assert api_key_authenticate("") is None
    assert api_key_authenticate(".secret") is None
    assert api_keys._cache == {}


def test_a_revoked_key_stops_at_once_in_the_revoking_process(client, merchant):
    key = make_api_key(merchant)
    assert offers(client, key).status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get(), actor="tests")

    response = offers(client, key)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_another_process_stops_accepting_a_revoked_key_within_the_cache_time(
    client, merchant, settings, monkeypatch
):
    key = make_api_key(merchant)
    settings.API_KEY_CACHE_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(api_keys.time, "monotonic", lambda: clock[0])
    assert offers(client, key).status_code == 200
    # Revoked elsewhere: this process's cache is not told.
    ApiKey.objects.update(revoked_at="2026-12-01T00:00:00Z")

    clock[0] += 4.9
    assert offers(client, key).status_code == 200
    clock[0] += 0.2
    assert offers(client, key).status_code == 401


def test_a_deactivated_merchant_is_refused_once_the_cache_time_passed(
    client, merchant, settings, monkeypatch
):
    key = make_api_key(merchant)
    clock = [1000.0]
    monkeypatch.setattr(api_keys.time, "monotonic", lambda: clock[0])
    assert offers(client, key).status_code == 200
    merchant.is_active = False
    merchant.save(update_fields=["is_active"])

    clock[0] += settings.API_KEY_CACHE_SECONDS + 0.1

    assert offers(client, key).status_code == 401


def test_with_no_cache_time_every_request_checks_the_database(client, merchant, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    key = make_api_key(merchant)
    assert offers(client, key).status_code == 200
    assert api_keys._cache == {}
    ApiKey.objects.update(revoked_at="2026-12-01T00:00:00Z")

    assert offers(client, key).status_code == 401
