"""What a helpdesk agent may do from the customer page, and what they can never do."""

import re

import pytest
from django.urls import reverse

from claims.models import ClaimStatus, Shipment
from claims.services.transitions import ClaimPermissionError, claim_approve, claim_reject
from crm.models import AuditEvent, Customer, HelpdeskNote, OutboundMessage
from rewards.models import Account, Entry, Journal
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    award,
    claim_for,
    helpdesk_user,
    message_for,
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


# --- notes -------------------------------------------------------------------------------


def test_an_agent_adds_a_note_which_is_audited(client, agent):
    customer = CustomerFactory()

    response = client.post(
        reverse("admin:crm_customer_add_note", args=[customer.pk]),
        {"category": "complaint", "text": "Parcel arrived damaged."},
    )

    assert response.status_code == 302
    note = HelpdeskNote.objects.get(customer=customer)
    assert (note.category, note.text, note.author_id) == (
        "complaint",
        "Parcel arrived damaged.",
        agent.pk,
    )
    event = AuditEvent.objects.get(action="helpdesk_note.add")
    assert (event.actor_id, event.object_type, event.object_id) == (
        agent.pk,
        "crm.helpdesknote",
        str(note.pk),
    )
    assert "Parcel arrived damaged." in client.get(change_url(customer)).content.decode()


def test_notes_cannot_be_changed_or_deleted_by_the_helpdesk(client, agent):
    customer = CustomerFactory()
    note = HelpdeskNote.objects.create(
        customer=customer, author=agent, category="query", text="First"
    )

    change = client.post(
        reverse("admin:crm_helpdesknote_change", args=[note.pk]),
        {"customer": customer.pk, "author": agent.pk, "category": "escalation", "text": "Edited"},
    )
    delete = client.post(reverse("admin:crm_helpdesknote_delete", args=[note.pk]), {"post": "yes"})

    assert change.status_code in {302, 403} or "Edited" not in change.content.decode()
    assert delete.status_code == 403
    note.refresh_from_db()
    assert (note.category, note.text) == ("query", "First")
    assert not agent.has_perm("crm.change_helpdesknote")
    assert not agent.has_perm("crm.delete_helpdesknote")


def test_an_empty_note_is_refused(client, agent):
    customer = CustomerFactory()
    client.post(
        reverse("admin:crm_customer_add_note", args=[customer.pk]),
        {"category": "query", "text": " "},
    )
    assert not HelpdeskNote.objects.exists()


# --- contact details ------------------------------------------------------------------------


def test_correcting_contact_details_is_audited_with_before_and_after(client, agent):
    customer = CustomerFactory(first_name="Greta", phone="+46701111111", email="old@example.com")

    response = client.post(
        change_url(customer),
        {
            "first_name": "Gret",
            "last_name": customer.last_name,
            "phone": "+46702222222",
            "email": "new@example.com",
            "preferred_language": "sv",
            "accepts_marketing_sms": "",
            "accepts_marketing_email": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert (customer.first_name, customer.phone, customer.email, customer.preferred_language) == (
        "Gret",
        "+46702222222",
        "new@example.com",
        "sv",
    )
    event = AuditEvent.objects.get(action="admin.change", object_type="crm.customer")
    assert event.actor_id == agent.pk
    assert {
        key: event.before[key] for key in ("first_name", "phone", "email", "preferred_language")
    } == {
        "first_name": "Greta",
        "phone": "+46701111111",
        "email": "old@example.com",
        "preferred_language": "en",
    }
    assert {
        key: event.after[key] for key in ("first_name", "phone", "email", "preferred_language")
    } == {
        "first_name": "Gret",
        "phone": "+46702222222",
        "email": "new@example.com",
        "preferred_language": "sv",
    }


def test_the_helpdesk_cannot_change_the_member_number(client, agent):
    customer = CustomerFactory(member_number="M-1")
    client.post(
        change_url(customer),
        {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "email": customer.email,
            "preferred_language": "en",
            "member_number": "M-2",
        },
    )
    customer.refresh_from_db()
    assert customer.member_number == "M-1"


# --- resend -----------------------------------------------------------------------------


def test_resend_the_last_message_sends_a_copy_to_the_current_address(
    client, agent, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(phone="+46703333333")
    message_for(customer, event="claim.submitted", body="older")
    last = message_for(customer, event="claim.dispatched", body="Your prize is on its way.")
    message_for(customer, event="otp.code", body="123456")  # a sign-in code is never resent
    customer.phone = "+46704444444"
    customer.save()

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("admin:crm_customer_resend_last", args=[customer.pk]))

    assert response.status_code == 302
    copy = OutboundMessage.objects.get(resent_from=last)
    assert (copy.recipient, copy.body, copy.status) == (
        "+46704444444",
        "Your prize is on its way.",
        "queued",
    )
    assert AuditEvent.objects.filter(action="message.resend", actor=agent).count() == 1


# --- fulfilment stages ---------------------------------------------------------------------


def test_an_agent_marks_a_parcel_returned_and_dispatches_it_again(client, agent):
    customer = CustomerFactory()
    claim = claim_for(customer, status=ClaimStatus.DISPATCHED)

    returned = client.post(
        reverse("admin:crm_customer_panel_action", args=[customer.pk, "claims", "mark-returned"]),
        {"claim": claim.number, "note": "Back at the depot"},
    )
    claim.refresh_from_db()
    assert returned.status_code == 302
    assert claim.status == ClaimStatus.RETURNED
    assert Shipment.objects.get(claim=claim).returned_at is not None

    again = client.post(
        reverse("admin:crm_customer_panel_action", args=[customer.pk, "claims", "dispatch"]),
        {"claim": claim.number, "carrier": "DHL", "tracking_number": "DHL-1"},
    )
    claim.refresh_from_db()
    assert again.status_code == 302
    assert claim.status == ClaimStatus.DISPATCHED
    assert list(claim.shipments.order_by("pk").values_list("carrier", flat=True)) == [
        "PostNord",
        "DHL",
    ]
    assert list(
        AuditEvent.objects.filter(object_type="claims.claim", object_id=str(claim.pk))
        .order_by("id")
        .values_list("action", "actor_id")
    ) == [("claim.mark_returned", agent.pk), ("claim.dispatch", agent.pk)]


def test_a_panel_action_on_another_customers_claim_is_refused(client, agent):
    customer = CustomerFactory()
    other_claim = claim_for(CustomerFactory(), status=ClaimStatus.DISPATCHED)

    client.post(
        reverse("admin:crm_customer_panel_action", args=[customer.pk, "claims", "mark-returned"]),
        {"claim": other_claim.number},
    )

    other_claim.refresh_from_db()
    assert other_claim.status == ClaimStatus.DISPATCHED


# --- never: approve, reject, balances --------------------------------------------------------


NEVER_HELPDESK = [
    "claims.review_claim",
    "claims.check_claim",
    "claims.change_claim",
    "claims.add_claimtransition",
    "rewards.add_journal",
    "rewards.change_journal",
    "rewards.reverse_journal",
    "rewards.add_entry",
    "rewards.change_account",
    "rewards.change_awardlot",
    "rewards.change_participant",
    "rewards.terminate_participant",
    "crm.delete_customer",
    "crm.approve_customermerge",
]


def test_the_helpdesk_role_holds_no_permission_to_decide_claims_or_move_money(agent):
    assert [name for name in NEVER_HELPDESK if agent.has_perm(name)] == []


def test_the_customer_page_offers_no_approve_reject_or_balance_action(client, agent):
    customer = CustomerFactory()
    claim_for(customer, status=ClaimStatus.DISPATCHED)
    participant_for(customer, SchemeFactory())

    page = client.get(change_url(customer)).content.decode()

    buttons = [text.strip() for text in re.findall(r"<button[^>]*>([^<]*)</button>", page)]
    actions = re.findall(r'<form[^>]*action="([^"]*)"', page)
    assert "Mark the parcel returned" in buttons
    for word in ["approve", "reject", "adjust", "reverse", "terminate", "journal", "spend"]:
        assert not [text for text in buttons if word in text.lower()], word
        assert not [url for url in actions if word in url.lower()], word


def test_direct_posts_to_approve_a_claim_or_post_to_a_ledger_are_refused(client, agent):
    customer = CustomerFactory()
    claim = claim_for(customer, status=ClaimStatus.PROPOSED)
    participant = participant_for(customer, SchemeFactory())
    journal = award(participant, 100)
    wallet = Account.objects.get(participant=participant)
    journals_before, entries_before = Journal.objects.count(), Entry.objects.count()

    answers = {
        "approve via panel": client.post(
            reverse("admin:crm_customer_panel_action", args=[customer.pk, "claims", "approve"]),
            {"claim": claim.number},
        ).status_code,
        "reject via panel": client.post(
            reverse("admin:crm_customer_panel_action", args=[customer.pk, "claims", "reject"]),
            {"claim": claim.number},
        ).status_code,
        "add journal": client.post(
            reverse("admin:rewards_journal_add"), {"kind": "award", "memo": "gift"}
        ).status_code,
        "change wallet": client.post(
            reverse("admin:rewards_account_change", args=[wallet.pk]), {"balance_minor": 1_000_000}
        ).status_code,
        "change journal": client.post(
            reverse("admin:rewards_journal_change", args=[journal.pk]), {"memo": "changed"}
        ).status_code,
        "terminate participant": client.post(
            reverse("admin:rewards_participant_terminate", args=[participant.pk]),
            {"reason": "fraud"},
        ).status_code,
        "spend through the API": client.post(
            reverse("rewards-api:spend-create"),
            {"participant_id": participant.pk, "amount_minor": 100},
            content_type="application/json",
        ).status_code,
    }

    assert answers == {
        "approve via panel": 404,
        "reject via panel": 404,
        "add journal": 403,
        "change wallet": 403,
        "change journal": 403,
        "terminate participant": 403,
        "spend through the API": 401,
    }
    claim.refresh_from_db()
    wallet.refresh_from_db()
    assert claim.status == ClaimStatus.PROPOSED
    assert wallet.balance_minor == 100
    assert (Journal.objects.count(), Entry.objects.count()) == (journals_before, entries_before)


def test_the_claim_services_refuse_the_helpdesk_as_approver_or_rejecter(agent):
    claim = claim_for(CustomerFactory(), status=ClaimStatus.PROPOSED)

    with pytest.raises(ClaimPermissionError):
        claim_approve(claim=claim, actor=agent)
    with pytest.raises(ClaimPermissionError):
        claim_reject(claim=claim, actor=agent, reason="no")

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PROPOSED
