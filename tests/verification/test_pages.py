"""The staff pages and the JSON API: the queue (filters, oldest first, SLA), the review page
(documents inline under the right CSP), access, the metrics selectors and their API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from claims.models import Claim, ClaimDocument, ClaimTransition
from crm.roles import Role
from tests.claims.factories import PrizeFactory, pdf_bytes
from tests.crm.factories import ChannelPartnerFactory, staff_user
from tests.verification.factories import (
    approved_claim,
    checker,
    proposed_claim,
    submitted_claim,
    verifier,
)
from verification import selectors, services
from verification.models import CampaignReviewSettings

pytestmark = pytest.mark.django_db


def age(claim: Claim, hours: int) -> None:
    """Moves the claim's entry into the queue ``hours`` back."""
    ClaimTransition.objects.filter(claim=claim, to_status="submitted").update(
        occurred_at=timezone.now() - timedelta(hours=hours)
    )


def test_the_queue_lists_the_oldest_first_with_its_sla(client, sign_in):
    newer, older, oldest = submitted_claim(), submitted_claim(), submitted_claim()
    age(newer, 2)
    age(older, 30)
    age(oldest, 80)
    sign_in(verifier())
    page = client.get("/verification/").content.decode()
    assert page.index(oldest.number) < page.index(older.number) < page.index(newer.number)
    assert page.count("past the SLA</strong>") == 1  # only the 80-hour one, of 48 h
    numbers = [c.number for c in selectors.queue_for_user(user=checker())]
    assert numbers == [oldest.number, older.number, newer.number]


def test_the_queue_filters(client, sign_in):
    partner = ChannelPartnerFactory()
    prize = PrizeFactory()
    mine = submitted_claim(prize=prize)
    CampaignReviewSettings.objects.create(scheme=prize.scheme, channel_partner=partner)
    other = submitted_claim()
    age(other, 50)
    proposed, _p = proposed_claim()
    user = verifier()

    def numbers(**filters):
        rows = selectors.queue_for_user(user=user, filters=selectors.QueueFilters(**filters))
        return [claim.number for claim in rows]

    assert numbers(scheme_id=prize.scheme_id) == [mine.number]
    assert numbers(channel_partner_id=partner.pk) == [mine.number]
    assert numbers(prize_id=prize.pk) == [mine.number]
    assert numbers(status="proposed") == [proposed.number]
    assert numbers(age="48_72h") == [other.number]
    assert numbers(age="over_sla") == [other.number]
    sign_in(user)
    page = client.get("/verification/", {"campaign": prize.scheme_id}).content.decode()
    assert mine.number in page
    assert other.number not in page


def test_only_reviewers_and_checkers_reach_the_queue(client, sign_in):
    assert client.get("/verification/").status_code == 302  # to the staff sign-in
    sign_in(staff_user(Role.CLIENT_MANAGER))
    assert client.get("/verification/").status_code == 403


def test_the_queue_needs_the_second_factor(client):
    client.force_login(verifier())
    response = client.get("/verification/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_review_page_shows_documents_inline_under_a_strict_policy(client, sign_in):
    claim = submitted_claim()
    maker = verifier()
    services.review_lock_take(claim=claim, actor=maker)
    image = ClaimDocument.objects.get(claim=claim)
    pdf = ClaimDocument.objects.create(
        claim=claim,
        kind="id_proof",
        storage_name="claim-documents/test-id.pdf",
        download_name="id.pdf",
        content_type="application/pdf",
        size_bytes=100,
        sha256="f" * 64,
    )
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    default_storage.save(pdf.storage_name, ContentFile(pdf_bytes()))
    sign_in(maker)
    response = client.get(f"/verification/claims/{claim.pk}/")
    page = response.content.decode()
    assert (
        f'<img class="zoomable" src="/verification/claims/{claim.pk}/documents/{image.pk}/"' in page
    )
    assert (
        f'<iframe class="document-pdf" src="/verification/claims/{claim.pk}/documents/{pdf.pk}/"'
        in page
    )
    assert "/static/js/verification.js" in page
    policy = response["Content-Security-Policy"]
    assert "frame-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy

    served = client.get(f"/verification/claims/{claim.pk}/documents/{pdf.pk}/")
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"].startswith("inline")
    assert served["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in served["Content-Security-Policy"]
    assert "default-src 'none'" in served["Content-Security-Policy"]
    assert served["X-Content-Type-Options"] == "nosniff"
    # An identity document's view is recorded under its own action.
    from crm.models import AuditEvent

    assert AuditEvent.objects.filter(action="claim.identity_document_viewed").count() == 1


def test_the_global_policy_is_unchanged(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


def test_another_claims_document_is_not_served(client, sign_in):
    claim, other = submitted_claim(), submitted_claim()
    document = ClaimDocument.objects.get(claim=other)
    sign_in(verifier())
    assert (
        client.get(f"/verification/claims/{claim.pk}/documents/{document.pk}/").status_code == 404
    )


def test_the_metrics(time_machine):
    start = timezone.now()
    time_machine.move_to(start - timedelta(hours=10))
    first, _d = approved_claim()  # first pass
    second, proposal = proposed_claim()
    services.proposal_decide(
        claim=second, actor=checker(), decision="send_back", note="Look again."
    )
    waiting = submitted_claim()
    time_machine.move_to(start)
    age(waiting, 30)
    metrics = selectors.queue_metrics()
    assert {row["bucket"]: row["count"] for row in metrics["waiting_by_age"]} == {
        "under_24h": 1,  # the one sent back, queued 10 hours ago
        "24_48h": 1,
        "48_72h": 0,
        "over_72h": 0,
    }
    assert metrics["first_pass_approval"] == {"approved_first_pass": 1, "decided": 2, "rate": 0.5}
    assert metrics["send_back"] == {"sent_back": 1, "decisions": 2, "rate": 0.5}
    assert metrics["time_to_decision"]["decisions"] == 1
    assert metrics["time_to_decision"]["median_hours"] == pytest.approx(0, abs=0.01)
    roles = sorted((row["role"], row["count"]) for row in metrics["decisions_per_day"])
    assert roles == [("checker", 1), ("checker", 1), ("maker", 1), ("maker", 1)]
    assert first.number != proposal.claim.number


def test_the_metrics_page_and_api(client, sign_in):
    approved_claim()
    sign_in(checker())
    assert "First-pass approval rate" in client.get("/verification/metrics/").content.decode()
    data = client.get("/api/v1/verification/metrics/").json()
    assert data["first_pass_approval"]["rate"] == 1.0
    assert [row["bucket"] for row in data["waiting_by_age"]] == [
        "under_24h",
        "24_48h",
        "48_72h",
        "over_72h",
    ]


def test_the_api_queue_and_the_openapi_schema(client, sign_in):
    claim = submitted_claim()
    sign_in(verifier())
    rows = client.get("/api/v1/verification/queue/").json()
    assert [row["number"] for row in rows] == [claim.number]
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/verification/queue/",
        "/api/v1/verification/claims/{claim_id}/take/",
        "/api/v1/verification/claims/{claim_id}/propose/",
        "/api/v1/verification/claims/{claim_id}/decide/",
        "/api/v1/verification/metrics/",
    ):
        assert path in schema, path


def test_the_api_needs_a_verified_session(client):
    client.force_login(verifier())
    assert client.get("/api/v1/verification/queue/").status_code == 403
