"""Participant identifiers (cards, app ids): unique per scheme, added by staff or at sign-up,
moved to the survivor when a duplicate is terminated."""

import pytest
from django.urls import reverse

from crm.models import AuditEvent
from crm.roles import Role
from rewards.models import ParticipantIdentifier
from rewards.services.errors import IdentifierTaken, InvalidRequest, ParticipantNotEffective
from rewards.services.participants import (
    participant_identifier_add,
    participant_join,
    participant_terminate,
)
from tests.crm.factories import CustomerFactory, staff_user
from tests.rewards.conftest import award, balance_of
from tests.rewards.factories import SchemeFactory, make_participant

pytestmark = pytest.mark.django_db


def identifiers_of(participant) -> list[tuple[str, str]]:
    return list(
        ParticipantIdentifier.objects.filter(participant=participant)
        .order_by("kind", "value")
        .values_list("kind", "value")
    )


def test_join_with_identifiers(scheme):
    participant = participant_join(
        scheme=scheme,
        customer=CustomerFactory(),
        actor="tests",
        identifiers=[("card", "6001 0001"), ("app", "m-17")],
    )

    assert identifiers_of(participant) == [("app", "m-17"), ("card", "6001 0001")]


def test_an_identifier_names_one_participant_per_scheme(scheme, participant):
    participant_identifier_add(participant=participant, kind="card", value="6001", actor="tests")
    other = make_participant(scheme)

    with pytest.raises(IdentifierTaken):
        participant_identifier_add(participant=other, kind="card", value=" 6001 ", actor="tests")
    with pytest.raises(IdentifierTaken):
        participant_join(
            scheme=scheme,
            customer=CustomerFactory(),
            actor="tests",
            identifiers=[("card", "6001")],
        )

    assert identifiers_of(other) == []
    assert ParticipantIdentifier.objects.count() == 1
    # The same number on another kind, or in another scheme, is someone else's.
    participant_identifier_add(participant=other, kind="app", value="6001", actor="tests")
    elsewhere = make_participant(SchemeFactory())
    participant_identifier_add(participant=elsewhere, kind="card", value="6001", actor="tests")
    assert ParticipantIdentifier.objects.count() == 3


@pytest.mark.parametrize(
    ("kind", "value"), [("passport", "1"), ("card", "  "), ("card", "x" * 101)]
)
def test_bad_identifiers_are_refused(participant, kind, value):
    with pytest.raises(InvalidRequest):
        participant_identifier_add(participant=participant, kind=kind, value=value, actor="tests")
    assert identifiers_of(participant) == []


def test_a_terminated_participant_gets_no_new_identifier(participant):
    participant_terminate(participant=participant, reason="fraud", actor="tests")

    with pytest.raises(ParticipantNotEffective):
        participant_identifier_add(participant=participant, kind="card", value="1", actor="tests")
    assert identifiers_of(participant) == []


def test_duplicate_termination_moves_the_identifiers_to_the_survivor(scheme):
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    participant_identifier_add(participant=duplicate, kind="card", value="A1", actor="tests")
    participant_identifier_add(participant=duplicate, kind="app", value="B2", actor="tests")
    participant_identifier_add(participant=survivor, kind="card", value="C3", actor="tests")

    participant_terminate(
        participant=duplicate,
        reason="duplicate",
        actor="tests",
        replaced_by=survivor,
        transfer_identifiers=True,
    )

    assert identifiers_of(duplicate) == []
    assert identifiers_of(survivor) == [("app", "B2"), ("card", "A1"), ("card", "C3")]
    event = AuditEvent.objects.get(action="participant.terminate")
    assert event.after["transferred_identifiers"] == ["card:A1", "app:B2"]


def test_duplicate_termination_keeps_the_identifiers_unless_asked(scheme):
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    participant_identifier_add(participant=duplicate, kind="card", value="A1", actor="tests")

    participant_terminate(
        participant=duplicate, reason="duplicate", actor="tests", replaced_by=survivor
    )

    assert identifiers_of(duplicate) == [("card", "A1")]


def test_only_a_duplicate_transfers_identifiers(participant):
    participant_identifier_add(participant=participant, kind="card", value="A1", actor="tests")

    with pytest.raises(InvalidRequest):
        participant_terminate(
            participant=participant, reason="fraud", actor="tests", transfer_identifiers=True
        )

    participant.refresh_from_db()
    assert participant.status == "effective"
    assert identifiers_of(participant) == [("card", "A1")]


# ---------------------------------------------------------------- admin


@pytest.fixture
def _plain_admin(settings):
    settings.STAFF_OTP_REQUIRED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.mark.usefixtures("_plain_admin")
def test_helpdesk_adds_a_replacement_card_in_admin(client, participant):
    client.force_login(staff_user(Role.HELPDESK))
    url = reverse("admin:rewards_participant_identifier_add", args=[participant.pk])

    form = client.get(url)
    added = client.post(url, {"kind": "card", "value": "6001 0002"})
    page = client.get(reverse("admin:rewards_participant_change", args=[participant.pk]))

    assert form.status_code == 200
    assert added.status_code == 302
    assert identifiers_of(participant) == [("card", "6001 0002")]
    assert b"6001 0002" in page.content
    assert AuditEvent.objects.filter(action="participant.identifier_add").count() == 1


@pytest.mark.usefixtures("_plain_admin")
def test_admin_shows_a_taken_identifier_as_a_form_error(client, scheme, participant):
    participant_identifier_add(
        participant=make_participant(scheme), kind="card", value="6001", actor="tests"
    )
    client.force_login(staff_user(Role.OPERATOR))

    response = client.post(
        reverse("admin:rewards_participant_identifier_add", args=[participant.pk]),
        {"kind": "card", "value": "6001"},
    )

    assert response.status_code == 200
    assert b"belongs to another participant" in response.content
    assert identifiers_of(participant) == []


@pytest.mark.usefixtures("_plain_admin")
def test_verifiers_cannot_add_identifiers(client, participant):
    # Verifiers work in the review queue: the back office sends them to its sign-in page.
    client.force_login(staff_user(Role.VERIFIER))

    response = client.post(
        reverse("admin:rewards_participant_identifier_add", args=[participant.pk]),
        {"kind": "card", "value": "1"},
    )

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert identifiers_of(participant) == []


@pytest.mark.usefixtures("_plain_admin")
def test_operator_terminates_a_duplicate_moving_balance_and_identifiers(client, scheme):
    duplicate = make_participant(scheme)
    survivor = make_participant(scheme)
    award(duplicate, 40)
    participant_identifier_add(participant=duplicate, kind="card", value="A1", actor="tests")
    client.force_login(staff_user(Role.OPERATOR))

    response = client.post(
        reverse("admin:rewards_participant_terminate", args=[duplicate.pk]),
        {
            "reason": "duplicate",
            "replaced_by": survivor.pk,
            "transfer_balance": "on",
            "transfer_identifiers": "on",
        },
    )

    assert response.status_code == 302
    assert (balance_of(duplicate), balance_of(survivor)) == (0, 40)
    assert identifiers_of(survivor) == [("card", "A1")]
