"""The customer 360 page and the helpdesk's search."""

import pytest
from django.urls import reverse

from crm.audit import audit_record
from crm.models import Customer
from rewards.models import Scheme
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    award,
    claim_for,
    helpdesk_user,
    message_for,
    note_for,
    participant_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(sign_in_verified):
    user = helpdesk_user()
    sign_in_verified(user)
    return user


def change_url(customer: Customer) -> str:
    return reverse("admin:crm_customer_change", args=[customer.pk])


def test_the_customer_page_shows_claims_wallet_messages_notes_and_audit_of_that_customer_only(
    client, agent
):
    # Given a customer with a claim, a wallet, a message, a note and an audited correction
    customer = CustomerFactory(first_name="Greta", last_name="Garbo")
    claim = claim_for(customer, prize_name="Espresso machine")
    participant = participant_for(customer, SchemeFactory(name="Coffee club"))
    award(participant, 250, memo="Welcome bonus")
    message_for(customer, body="Your prize is on its way.")
    note_for(customer, agent, text="Asked where the parcel is.")
    audit_record(action="customer.test_marker", actor=agent, target=customer)
    # and another customer with their own of each
    other = CustomerFactory(first_name="Other", last_name="Person")
    other_claim = claim_for(other, prize_name="Bicycle")
    other_participant = participant_for(other, SchemeFactory(name="Tea club"))
    award(other_participant, 999, memo="Other bonus")
    message_for(other, body="Other text", status="failed")
    note_for(other, agent, text="Other note")
    audit_record(action="customer.other_marker", actor=agent, target=other)

    # When the agent opens the first customer's page
    response = client.get(change_url(customer))

    # Then every panel shows that customer's data and none of the other's
    assert response.status_code == 200
    page = response.content.decode()
    for expected in [
        'id="panel-claims"',
        claim.number,
        "Espresso machine",
        "Dispatched",
        "Invoice or receipt",
        "PostNord",
        'id="panel-wallets"',
        "Coffee club",
        "<strong>250</strong>",
        "Welcome bonus",
        'id="panel-messages"',
        "claim.dispatched",
        "Delivered",
        customer.phone,
        'id="panel-notes"',
        "Asked where the parcel is.",
        'id="panel-audit"',
        "customer.test_marker",
    ]:
        assert expected in page, expected
    for unexpected in [
        other_claim.number,
        "Bicycle",
        "Tea club",
        "Other bonus",
        "Other text",
        "Other note",
        "customer.other_marker",
    ]:
        assert unexpected not in page, unexpected


def test_the_claim_timeline_lists_every_move(client, agent):
    customer = CustomerFactory()
    claim_for(customer)

    page = client.get(change_url(customer)).content.decode()

    for move in ["Draft", "Submitted", "In review", "Decision proposed", "Approved", "Released"]:
        assert move in page


@pytest.fixture
def searchable(agent):
    customer = CustomerFactory(
        first_name="Selma",
        last_name="Lagerlof",
        phone="+46701234567",
        email="Selma.Lagerlof@Example.com",
        member_number="M-000042",
    )
    claim = claim_for(customer, scheme=SchemeFactory(kind=Scheme.Kind.INSTANT_WIN))
    participant = participant_for(customer, SchemeFactory())
    bystander = CustomerFactory(first_name="Nils", last_name="Holgersson", phone="+46709999999")
    return customer, claim, participant, bystander


def search(client, term: str) -> list[int]:
    response = client.get(reverse("admin:crm_customer_changelist"), {"q": term})
    assert response.status_code == 200
    return sorted(customer.pk for customer in response.context["cl"].result_list)


@pytest.mark.parametrize(
    "phone_typed",
    ["+46701234567", "070-123 45 67", "0701234567", "+46 (0)70 123 45 67", "0046 70 123 45 67"],
)
def test_search_finds_a_customer_by_phone_typed_in_any_form(client, searchable, phone_typed):
    customer, _claim, _participant, _bystander = searchable
    assert search(client, phone_typed) == [customer.pk]


def test_search_finds_a_customer_by_email_name_member_number_claim_code_and_participant(
    client, searchable
):
    customer, claim, participant, _bystander = searchable
    code = claim.code
    for term in [
        "selma.lagerlof@example.com",
        "Lagerlof",
        "selma lagerlof",
        "M-000042",
        claim.number,
        claim.number.lower(),
        str(code),  # shown in groups of four, with dashes
        code.value.lower(),
        str(participant.pk),
    ]:
        assert search(client, term) == [customer.pk], term


def test_search_finds_nothing_for_an_unknown_term(client, searchable):
    assert search(client, "C-1999-000001") == []
    assert search(client, "+46700000001") == []
