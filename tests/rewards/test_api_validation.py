"""The lean validators of the event and spend bodies (rewards.api.fast_validation) against
the DRF serializers they stand in for, and the API's answers to bad bodies."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from rewards.api import fast_validation
from rewards.api.serializers import MAX_MINOR, EventCreateSerializer, SpendCreateSerializer
from rewards.models import CustomerEvent, Journal
from tests.rewards.factories import make_api_key, make_participant

GOOD_EVENT = {
    "source": "pos-1",
    "external_id": "receipt-1",
    "type": "purchase",
    "participant": 42,
    "merchant": "shop-1",
    "occurred_at": "2026-11-20T10:00:00Z",
    "lines": [{"product": "SKU1", "quantity": 2, "amount_minor": 500}],
    "total_minor": 1000,
}

GOOD_SPEND = {"participant": 42, "amount_minor": 10, "idempotency_key": "spend-1"}


def drf(serializer_class, body):
    serializer = serializer_class(data=body)
    if not serializer.is_valid():
        return None
    return json.loads(json.dumps(serializer.validated_data, default=str))


def fast(function, body):
    result = function(body)
    return None if result is None else json.loads(json.dumps(result, default=str))


VALID_EVENTS = [
    GOOD_EVENT,
    {**GOOD_EVENT, "lines": []},
    {key: value for key, value in GOOD_EVENT.items() if key not in ("lines", "merchant")},
    {key: value for key, value in GOOD_EVENT.items() if key != "total_minor"},
    {**GOOD_EVENT, "occurred_at": "2026-11-20T10:00:00.123456+02:00"},
    {**GOOD_EVENT, "occurred_at": "2026-06-20T23:30:00-05:00"},
    {**GOOD_EVENT, "payment_medium": "card", "area": "north", "achievement_code": None},
    {**GOOD_EVENT, "process": "queued", "unknown_field": "ignored"},
    {
        **GOOD_EVENT,
        "type": "refund",
        "original_external_id": "receipt-0",
        "lines": [{"product": "SKU1", "quantity": 1, "amount_minor": 0, "extra": 1}],
    },
    {**GOOD_EVENT, "total_minor": MAX_MINOR, "participant": -5},
    # Accepted by DRF as times in the current time zone; the fast path converts them alike.
    {**GOOD_EVENT, "occurred_at": "2026-11-20T10:00:00"},
    {**GOOD_EVENT, "occurred_at": "2026-11-20"},
]


@pytest.mark.parametrize("body", VALID_EVENTS)
def test_the_fast_event_validator_gives_what_the_serializer_gives(body):
    expected = drf(EventCreateSerializer, body)
    assert expected is not None
    assert fast(fast_validation.event_body, body) == expected


def test_the_fast_event_validator_converts_the_time_as_drf_does():
    data = fast_validation.event_body({**GOOD_EVENT, "occurred_at": "2026-11-20T10:00:00+01:00"})
    assert data["occurred_at"] == datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("UTC"))
    assert (
        data["occurred_at"].utcoffset()
        == EventCreateSerializer(data=GOOD_EVENT)
        .fields["occurred_at"]
        .to_internal_value("2026-11-20T10:00:00+01:00")
        .utcoffset()
    )


# Bodies the fast path leaves to DRF: invalid ones (DRF answers the error) and valid ones
# DRF would coerce (it answers those too, with its own result).
DEFERRED_EVENTS = [
    [],
    "text",
    {},
    {**GOOD_EVENT, "source": ""},
    {**GOOD_EVENT, "source": " pos-1 "},
    {**GOOD_EVENT, "source": "x" * 65},
    {**GOOD_EVENT, "source": "pos\x00"},
    {**GOOD_EVENT, "source": "kassa-å"},
    {**GOOD_EVENT, "source": 12},
    {**GOOD_EVENT, "external_id": None},
    {**GOOD_EVENT, "type": "gift"},
    {**GOOD_EVENT, "type": ["purchase"]},
    {**GOOD_EVENT, "participant": "42"},
    {**GOOD_EVENT, "participant": True},
    {**GOOD_EVENT, "participant": 4.0},
    {**GOOD_EVENT, "participant": MAX_MINOR + 1},
    {**GOOD_EVENT, "merchant": "shop 1"},
    {**GOOD_EVENT, "merchant": None},
    {**GOOD_EVENT, "occurred_at": "yesterday"},
    {**GOOD_EVENT, "occurred_at": 1763632800},
    {**GOOD_EVENT, "lines": {"product": "SKU1"}},
    {**GOOD_EVENT, "lines": ["SKU1"]},
    {**GOOD_EVENT, "lines": [{"product": "SKU1", "quantity": 0, "amount_minor": 5}]},
    {**GOOD_EVENT, "lines": [{"product": "SKU1", "quantity": 1, "amount_minor": -5}]},
    {**GOOD_EVENT, "lines": [{"product": "SKU1", "quantity": 1}]},
    {**GOOD_EVENT, "lines": [{"product": "", "quantity": 1, "amount_minor": 5}]},
    {**GOOD_EVENT, "lines": [{"product": "SKU1", "quantity": 1, "amount_minor": "5"}]},
    {**GOOD_EVENT, "lines": [{"product": "S", "quantity": 1, "amount_minor": 1}] * 501},
    {**GOOD_EVENT, "total_minor": -1},
    {**GOOD_EVENT, "total_minor": MAX_MINOR + 1},
    {**GOOD_EVENT, "total_minor": None},
    {**GOOD_EVENT, "payment_medium": ""},
    {**GOOD_EVENT, "area": "x" * 101},
    {**GOOD_EVENT, "process": "later"},
    {**GOOD_EVENT, "process": None},
]


@pytest.mark.parametrize("body", DEFERRED_EVENTS)
def test_the_fast_event_validator_leaves_every_doubtful_body_to_the_serializer(body):
    assert fast_validation.event_body(body) is None


VALID_SPENDS = [
    GOOD_SPEND,
    {**GOOD_SPEND, "merchant": "shop-1", "products": ["SKU1", "SKU2"]},
    {**GOOD_SPEND, "products": []},
]


@pytest.mark.parametrize("body", VALID_SPENDS)
def test_the_fast_spend_validator_gives_what_the_serializer_gives(body):
    expected = drf(SpendCreateSerializer, body)
    assert expected is not None
    assert fast(fast_validation.spend_body, body) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        {**GOOD_SPEND, "amount_minor": 0},
        {**GOOD_SPEND, "amount_minor": -10},
        {**GOOD_SPEND, "amount_minor": "10"},
        {**GOOD_SPEND, "idempotency_key": ""},
        {**GOOD_SPEND, "idempotency_key": "k" * 129},
        {**GOOD_SPEND, "participant": None},
        {**GOOD_SPEND, "products": "SKU1"},
        {**GOOD_SPEND, "products": ["SKU1", 5]},
        {**GOOD_SPEND, "merchant": "shop/1"},
    ],
)
def test_the_fast_spend_validator_leaves_every_doubtful_body_to_the_serializer(body):
    assert fast_validation.spend_body(body) is None


# ---------------------------------------------------------------------- through the API


@pytest.fixture
def post(client, merchant):
    key = make_api_key(merchant)

    def call(url, body):
        return client.post(
            url,
            json.dumps(body) if not isinstance(body, bytes) else body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )

    return call


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"source": None}, "source", "This field may not be null."),
        ({"external_id": ""}, "external_id", "This field may not be blank."),
        ({"type": "gift"}, "type", '"gift" is not a valid choice.'),
        ({"participant": "abc"}, "participant", "A valid integer is required."),
        (
            {"participant": MAX_MINOR + 1},
            "participant",
            f"Ensure this value is less than or equal to {MAX_MINOR}.",
        ),
        ({"occurred_at": "yesterday"}, "occurred_at", "Datetime has wrong format."),
        ({"total_minor": -1}, "total_minor", "Ensure this value is greater than or equal to 0."),
        ({"total_minor": 10**20}, "total_minor", "Ensure this value is less than or equal to"),
        ({"lines": "SKU1"}, "lines", "Expected a list of items"),
        (
            {"lines": [{"product": "S", "quantity": 1, "amount_minor": 1}] * 501},
            "lines",
            "Ensure this field has no more than 500 elements.",
        ),
        ({"process": "later"}, "process", '"later" is not a valid choice.'),
    ],
)
def test_bad_event_bodies_get_a_400_naming_the_field_and_post_nothing(
    post, scheme, merchant, change, field, message
):
    participant = make_participant(scheme)
    body = {**GOOD_EVENT, "participant": participant.pk, "merchant": merchant.code, **change}

    response = post(reverse("rewards-api:event-create"), body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "invalid"
    assert answer["message"] == "Some of what was sent is not valid; see errors."
    assert message in str(answer["errors"][field])
    assert not CustomerEvent.objects.filter(source="pos-1").exists()
    assert not Journal.objects.filter(event__source="pos-1").exists()


@pytest.mark.django_db
def test_bad_line_fields_are_named_per_line(post, scheme, merchant):
    participant = make_participant(scheme)
    body = {
        **GOOD_EVENT,
        "participant": participant.pk,
        "merchant": merchant.code,
        "lines": [
            {"product": "SKU1", "quantity": 1, "amount_minor": 5},
            {"product": "SKU2", "quantity": 0, "amount_minor": -5},
        ],
    }

    response = post(reverse("rewards-api:event-create"), body)

    assert response.status_code == 400
    assert response.json()["errors"]["lines"] == {
        "1": {
            "quantity": ["Ensure this value is greater than or equal to 1."],
            "amount_minor": ["Ensure this value is greater than or equal to 0."],
        },
    }
    assert not CustomerEvent.objects.filter(source="pos-1").exists()


@pytest.mark.django_db
def test_a_body_missing_fields_lists_each_of_them(post):
    response = post(reverse("rewards-api:event-create"), {"source": "pos-1"})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"external_id", "type", "participant", "occurred_at"}
    assert errors["type"] == ["This field is required."]


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json"])
def test_a_body_that_is_not_an_object_gets_a_400(post, raw):
    response = post(reverse("rewards-api:event-create"), raw)

    assert response.status_code == 400
    assert response.json()["code"] in ("invalid", "parse_error")
    assert not CustomerEvent.objects.filter(source="pos-1").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -5}, "amount_minor"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"products": ["SKU1", ""]}, "products"),
    ],
)
def test_bad_spend_bodies_get_a_400_and_post_nothing(post, scheme, change, field):
    participant = make_participant(scheme)
    body = {**GOOD_SPEND, "participant": participant.pk, **change}

    response = post(reverse("rewards-api:spend-create"), body)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Journal.objects.filter(kind=Journal.Kind.SPEND).exists()
