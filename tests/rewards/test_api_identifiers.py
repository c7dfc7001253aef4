"""Identifiers through the integrators' API: given at sign-up, shown with the participant,
and looked up by a scanned card, only within the merchant's schemes."""

import pytest
from django.urls import reverse

from rewards.models import Participant, ParticipantIdentifier
from rewards.services.participants import participant_identifier_add, participant_terminate
from tests.rewards.factories import SchemeFactory, make_participant

pytestmark = pytest.mark.django_db


def lookup(api, scheme_code, kind, value):
    return api(
        "get",
        reverse("rewards-api:participant-lookup"),
        {"scheme": scheme_code, "kind": kind, "value": value},
    )


def test_sign_up_with_a_card_and_find_the_participant_by_it(api, scheme):
    created = api(
        "post",
        reverse("rewards-api:participant-create"),
        {
            "scheme": scheme.code,
            "customer": {"phone": "+46701112233"},
            "identifiers": [{"kind": "card", "value": "6001 0001"}],
        },
    )

    found = lookup(api, scheme.code, "card", "6001 0001")

    assert created.status_code == 201
    assert created.json()["identifiers"] == [{"kind": "card", "value": "6001 0001"}]
    assert found.status_code == 200
    assert found.json()["id"] == created.json()["id"]
    assert found.json()["identifiers"] == [{"kind": "card", "value": "6001 0001"}]


def test_a_taken_card_refuses_the_sign_up_and_creates_nothing(api, scheme, participant):
    participant_identifier_add(participant=participant, kind="card", value="6001", actor="tests")
    participants = Participant.objects.count()

    response = api(
        "post",
        reverse("rewards-api:participant-create"),
        {
            "scheme": scheme.code,
            "customer": {"phone": "+46709998877"},
            "identifiers": [{"kind": "card", "value": "6001"}],
        },
    )

    assert response.status_code == 409
    assert response.json()["code"] == "identifier_taken"
    assert Participant.objects.count() == participants
    assert ParticipantIdentifier.objects.count() == 1


@pytest.mark.parametrize(
    "identifiers",
    [
        [{"kind": "passport", "value": "1"}],
        [{"kind": "card", "value": ""}],
        [{"kind": "card", "value": "x" * 101}],
        [{"kind": "card"}],
        "6001",
    ],
)
def test_bad_identifiers_at_sign_up_are_a_400(api, scheme, identifiers):
    response = api(
        "post",
        reverse("rewards-api:participant-create"),
        {"scheme": scheme.code, "customer": {"phone": "+46701112233"}, "identifiers": identifiers},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Participant.objects.count() == 0


def test_lookup_finds_the_survivor_after_a_duplicate_moved_its_card(api, scheme):
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    participant_identifier_add(participant=duplicate, kind="app", value="m-1", actor="tests")
    participant_terminate(
        participant=duplicate,
        reason="duplicate",
        actor="tests",
        replaced_by=survivor,
        transfer_identifiers=True,
    )

    found = lookup(api, scheme.code, "app", "m-1")
    duplicate_detail = api("get", reverse("rewards-api:participant", args=[duplicate.pk]))

    assert found.json()["id"] == survivor.pk
    assert duplicate_detail.json()["replaced_by"] == survivor.pk
    assert duplicate_detail.json()["status"] == "terminated"


def test_lookup_never_reaches_another_merchants_scheme(api, scheme, participant):
    stranger = make_participant(SchemeFactory())
    participant_identifier_add(participant=stranger, kind="card", value="7", actor="tests")
    participant_identifier_add(participant=participant, kind="card", value="8", actor="tests")

    responses = [
        lookup(api, stranger.scheme.code, "card", "7"),
        lookup(api, scheme.code, "card", "7"),
        lookup(api, scheme.code, "app", "8"),
        lookup(api, scheme.code, "card", "9"),
    ]

    assert [response.status_code for response in responses] == [404] * 4
    assert {response.json()["code"] for response in responses} == {"not_found"}


def test_lookup_needs_scheme_kind_and_value(api, scheme):
    response = api("get", reverse("rewards-api:participant-lookup"), {"kind": "card"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) == {"scheme", "value"}
