"""The integrators' API end to end through the test client."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from rewards.models import ApiKey, CustomerEvent, Entry, Journal, Participant
from tests.rewards.conftest import award, balance_of
from tests.rewards.factories import (
    OfferFactory,
    SchemeFactory,
    make_participant,
    merchant_in,
)

pytestmark = pytest.mark.django_db


def event_body(participant, merchant, **overrides):
    body = {
        "source": "pos-1",
        "external_id": "receipt-1",
        "type": "purchase",
        "participant": participant.pk,
        "merchant": merchant.code,
        "occurred_at": "2026-11-20T10:00:00Z",
        "lines": [{"product": "SKU1", "quantity": 2, "amount_minor": 500}],
        "total_minor": 1000,
    }
    return {**body, **overrides}


def test_create_api_key_prints_the_key_once_and_keeps_only_its_hash(merchant, client):
    out = StringIO()
    call_command("create_api_key", merchant=merchant.code, stdout=out, stderr=StringIO())

    key = out.getvalue().strip()
    stored = ApiKey.objects.get(merchant=merchant)
    assert key.startswith(stored.prefix + ".")
    assert key not in (stored.key_hash, stored.prefix)
    response = client.get(reverse("rewards-api:offers"), HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 200


def test_requests_without_a_valid_key_are_refused(api):
    assert api("get", reverse("rewards-api:offers"), key=None).status_code == 401
    response = api("get", reverse("rewards-api:offers"), key="abcd1234.wrong")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_sign_up_creates_a_participant(api, scheme):
    response = api(
        "post",
        reverse("rewards-api:participant-create"),
        {"scheme": scheme.code, "customer": {"phone": "+46701112233", "first_name": "Eva"}},
    )

    assert response.status_code == 201
    participant = Participant.objects.get(pk=response.json()["id"])
    assert participant.customer.phone == "+46701112233"
    assert participant.sign_up_merchant is not None
    again = api(
        "post",
        reverse("rewards-api:participant-create"),
        {"scheme": scheme.code, "customer": {"phone": "+46701112233"}},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_participant"


def test_sign_up_needs_a_phone_or_email_and_a_scheme_of_the_merchant(api, scheme):
    invalid = api(
        "post", reverse("rewards-api:participant-create"), {"scheme": scheme.code, "customer": {}}
    )
    other = api(
        "post",
        reverse("rewards-api:participant-create"),
        {"scheme": SchemeFactory().code, "customer": {"email": "a@example.com"}},
    )

    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid"
    assert other.status_code == 404
    assert other.json() == {"code": "not_found", "message": "Not found."}
    assert Participant.objects.count() == 0


def test_event_is_awarded_then_replayed_then_refused_with_other_content(
    api, scheme, merchant, participant
):
    offer = OfferFactory(scheme=scheme)
    url = reverse("rewards-api:event-create")

    created = api("post", url, event_body(participant, merchant))
    entries = Entry.objects.count()
    replay = api("post", url, event_body(participant, merchant))
    conflict = api("post", url, event_body(participant, merchant, total_minor=999))

    assert created.status_code == 201
    body = created.json()
    assert [(a["offer"], a["amount_minor"], a["expires_at"]) for a in body["awards"]] == [
        (offer.pk, 100, None)
    ]
    assert body["awards"][0]["available_from"]
    assert replay.status_code == 200
    assert replay.json() == body
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_conflict"
    assert "different content" in conflict.json()["message"]
    assert Entry.objects.count() == entries
    assert balance_of(participant) == 100


def test_event_can_be_queued_for_the_evaluation_run(api, scheme, merchant, participant):
    OfferFactory(scheme=scheme)

    response = api(
        "post",
        reverse("rewards-api:event-create"),
        {**event_body(participant, merchant), "process": "queued"},
    )

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert balance_of(participant) == 0
    from rewards.services.events import events_process_queued

    assert events_process_queued(scheme_id=scheme.pk) == 1
    assert balance_of(participant) == 100
    replay = api("post", reverse("rewards-api:event-create"), event_body(participant, merchant))
    assert replay.status_code == 200
    assert replay.json()["awards"][0]["amount_minor"] == 100


def test_another_merchants_participant_is_not_found(api, merchant):
    other_scheme = SchemeFactory()
    stranger = make_participant(other_scheme)
    award(stranger, 100)
    journals = Journal.objects.count()

    responses = [
        api("post", reverse("rewards-api:event-create"), event_body(stranger, merchant)),
        api(
            "post",
            reverse("rewards-api:spend-create"),
            {"participant": stranger.pk, "amount_minor": 10, "idempotency_key": "k"},
        ),
        api("get", reverse("rewards-api:wallet", args=[stranger.pk])),
        api("get", reverse("rewards-api:transactions", args=[stranger.pk])),
        api("get", reverse("rewards-api:participant", args=[stranger.pk])),
    ]

    assert [response.status_code for response in responses] == [404] * 5
    assert {response.json()["code"] for response in responses} == {"not_found"}
    assert Journal.objects.count() == journals
    assert CustomerEvent.objects.filter(participant=stranger, type="purchase").count() == 0


def test_a_key_cannot_act_for_another_merchant(api, scheme, participant):
    other = merchant_in(scheme)

    response = api("post", reverse("rewards-api:event-create"), event_body(participant, other))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_spend_succeeds_replays_and_refuses_overdraft(api, participant):
    award(participant, 100)
    url = reverse("rewards-api:spend-create")

    spent = api(
        "post", url, {"participant": participant.pk, "amount_minor": 30, "idempotency_key": "a"}
    )
    replay = api(
        "post", url, {"participant": participant.pk, "amount_minor": 30, "idempotency_key": "a"}
    )
    too_much = api(
        "post", url, {"participant": participant.pk, "amount_minor": 71, "idempotency_key": "b"}
    )

    assert spent.status_code == 201
    assert spent.json()["balance_minor"] == 70
    assert replay.status_code == 200
    assert replay.json() == spent.json()
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "insufficient_funds"
    assert too_much.json()["message"]
    assert balance_of(participant) == 70
    assert Journal.objects.filter(kind="spend").count() == 1


def test_wallet_shows_balance_pending_and_lots(api, participant):
    award(participant, 100, expires_in_days=30)
    award(participant, 40, available_in_days=14)

    body = api("get", reverse("rewards-api:wallet", args=[participant.pk])).json()

    assert (body["balance_minor"], body["pending_minor"], body["available_minor"]) == (140, 40, 100)
    assert [lot["remaining_minor"] for lot in body["lots"]] == [100, 40]


def test_transactions_are_paginated_newest_first(api, merchant, participant):
    award(participant, 100)
    for number in range(3):
        api(
            "post",
            reverse("rewards-api:spend-create"),
            {"participant": participant.pk, "amount_minor": 10, "idempotency_key": f"k{number}"},
        )

    body = api("get", reverse("rewards-api:transactions", args=[participant.pk])).json()

    assert body["count"] == 4
    assert [(row["kind"], row["amount_minor"]) for row in body["results"]] == [
        ("spend", -10),
        ("spend", -10),
        ("spend", -10),
        ("award", 100),
    ]
    assert body["results"][0]["merchant"] == merchant.code


def test_offers_lists_effective_offers_of_the_merchants_schemes(api, scheme):
    mine = OfferFactory(scheme=scheme)
    OfferFactory(scheme=scheme, status="draft")
    OfferFactory()

    body = api("get", reverse("rewards-api:offers")).json()

    assert [row["code"] for row in body["results"]] == [mine.code]


def test_schema_and_docs_are_served(client):
    schema = client.get(reverse("schema"))
    docs = client.get(reverse("swagger-ui"))

    assert schema.status_code == 200
    assert b"/api/v1/events/" in schema.content
    assert docs.status_code == 200
