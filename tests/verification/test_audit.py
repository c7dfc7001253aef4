"""Each verification action leaves exactly one audit row of its kind, with the right actor
and before/after; the claim page shows the claim's whole history; the trail can be searched
and its chain checked from the UI."""

import pytest

from claims.models import ClaimDocument
from crm.audit import audit_record
from crm.models import AuditEvent
from tests.verification.factories import (
    approved_claim,
    checker,
    fulfiller,
    proposed_claim,
    submitted_claim,
    verifier,
)
from verification import services

pytestmark = pytest.mark.django_db


def only(action: str, **filters) -> AuditEvent:
    rows = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(rows) == 1, f"{action}: {len(rows)} rows"
    return rows[0]


def test_taking_and_giving_back_a_claim():
    claim = submitted_claim()
    maker = verifier()
    lock = services.review_lock_take(claim=claim, actor=maker)
    event = only("verification.lock_take")
    assert (event.actor_id, event.object_type, event.object_id) == (
        maker.pk,
        "claims.claim",
        str(claim.pk),
    )
    assert event.before is None
    assert event.after["holder_id"] == maker.pk
    services.review_lock_release(claim=claim, actor=maker)
    event = only("verification.lock_release")
    assert event.actor_id == maker.pk
    assert event.before["holder_id"] == maker.pk
    assert event.after is None
    assert lock.pk == claim.pk


def test_recording_invoice_details():
    claim = submitted_claim()
    maker = verifier()
    services.review_lock_take(claim=claim, actor=maker)
    services.invoice_details_record(
        claim=claim, actor=maker, invoice_number="A-1", merchant_name="ICA"
    )
    services.invoice_details_record(
        claim=claim, actor=maker, invoice_number="A-2", merchant_name="ICA"
    )
    first, second = AuditEvent.objects.filter(action="verification.invoice_record").order_by("id")
    assert (first.before, first.after) == (None, {"invoice_number": "A-1", "merchant_name": "ICA"})
    assert second.before == {"invoice_number": "A-1", "merchant_name": "ICA"}
    assert second.actor_id == maker.pk


def test_a_proposal_and_its_decision():
    maker, the_checker = verifier(), checker()
    claim, proposal = proposed_claim(maker=maker)
    event = only("verification.propose")
    assert event.actor_id == maker.pk
    assert event.before["status"] == "in_review"
    assert event.after["status"] == "proposed"
    assert event.after["proposal_id"] == proposal.pk
    assert event.after["fingerprint"] == proposal.fingerprint
    decision = services.proposal_decide(claim=claim, actor=the_checker, decision="confirm")
    event = only("verification.decide")
    assert event.actor_id == the_checker.pk
    assert event.before == {
        "status": "proposed",
        "proposal_id": proposal.pk,
        "outcome": "approve",
        "maker_id": maker.pk,
    }
    assert event.after["status"] == "approved"
    assert event.after["decision_id"] == decision.pk
    # The claim's own state machine records the move too, with the same actor.
    assert only("claim.approve").actor_id == the_checker.pk


def test_a_void():
    from claims.models import Claim

    claim, _proposal = proposed_claim()
    Claim.objects.filter(pk=claim.pk).update(city="Malmö")
    the_checker = checker()
    with pytest.raises(services.ProposalVoidedError):
        services.proposal_decide(claim=claim, actor=the_checker, decision="confirm")
    event = only("verification.proposal_void")
    assert event.actor_id == the_checker.pk
    assert (event.before["status"], event.after["status"]) == ("pending", "voided")


def test_viewing_a_document(client, sign_in):
    claim = submitted_claim()
    maker = verifier()
    document = ClaimDocument.objects.get(claim=claim)
    sign_in(maker)
    response = client.get(f"/verification/claims/{claim.pk}/documents/{document.pk}/")
    assert response.status_code == 200
    event = only("claim.document_viewed")
    assert event.actor_id == maker.pk
    assert event.after == {"document_id": document.pk, "kind": "invoice", "via": "verification"}


def test_release_export_import_dispatch_and_delivery():
    claim, _decision = approved_claim()
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
    event = only("verification.release")
    assert (event.actor_id, event.object_type) == (helpdesk.pk, "verification.fulfilmentbatch")
    assert event.before == {"status": "approved"}
    assert event.after["claims"] == [claim.number]

    services.courier_csv(batch=batch, actor=helpdesk)
    event = only("verification.courier_export")
    assert event.before == {"exported_at": None}
    assert event.after["rows"] == 1

    services.tracking_import(
        batch=batch,
        actor=helpdesk,
        text=f"reference,carrier,tracking_number\n{claim.number},PostNord,123\n",
    )
    assert only("verification.tracking_import").after == {
        "dispatched": [claim.number],
        "errors": [],
    }
    event = only("claim.dispatch")
    assert (event.actor_id, event.before["status"], event.after["status"]) == (
        helpdesk.pk,
        "released",
        "dispatched",
    )
    services.parcel_deliver(claim=claim, actor=helpdesk)
    event = only("claim.deliver")
    assert (event.before["status"], event.after["status"]) == ("dispatched", "delivered")


def test_issuing_points(points_prize):
    claim, _decision = approved_claim(prize=points_prize)
    helpdesk = fulfiller()
    batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
    services.fulfilment_item_complete(item=batch.items.get(), actor=helpdesk)
    services.fulfilment_item_complete(item=batch.items.get(), actor=helpdesk)
    event = only("verification.prize_issue")
    assert event.actor_id == helpdesk.pk
    assert event.before == {"voucher_code": "", "journal_id": None}
    assert event.after["amount_minor"] == 500


def test_the_claim_page_shows_its_whole_audit_history(client, sign_in):
    claim, _decision = approved_claim()
    sign_in(verifier())
    page = client.get(f"/verification/claims/{claim.pk}/").content.decode()
    for action in (
        "claim.started",
        "claim.submit",
        "claim.start_review",
        "verification.lock_take",
        "verification.propose",
        "claim.propose",
        "verification.decide",
        "claim.approve",
    ):
        assert f"<code>{action}</code>" in page, action


def test_checkers_search_the_trail_and_run_the_chain_check(client, sign_in):
    claim, _decision = approved_claim()
    the_checker = checker()
    sign_in(the_checker)
    page = client.get("/verification/audit/", {"text": claim.number}).content.decode()
    assert "<code>verification.decide</code>" in page
    assert "<code>customer.create</code>" not in page
    page = client.get("/verification/audit/", {"action": "verification.propose"}).content.decode()
    assert page.count("<code>verification.propose</code>") == 1

    response = client.post("/verification/audit/chain-check/", follow=True)
    assert "The audit chain is intact" in response.content.decode()
    assert only("audit.chain_check").after == {"breaks": 0, "first": []}


def test_the_chain_check_reports_a_tampered_row(client, sign_in):
    from django.db import connection

    event = audit_record(action="test.tampered", after={"amount": 1})
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE crm_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE crm_auditevent SET after = '{\"amount\": 2}' WHERE id = %s", [event.pk]
        )
        cursor.execute("ALTER TABLE crm_auditevent ENABLE TRIGGER USER")
    sign_in(checker())
    response = client.post("/verification/audit/chain-check/", follow=True)
    assert f"#{event.pk} content does not match its hash" in response.content.decode()


def test_a_verifier_cannot_search_the_trail(client, sign_in):
    sign_in(verifier())
    assert client.get("/verification/audit/").status_code == 403
    assert client.post("/verification/audit/chain-check/").status_code == 403
