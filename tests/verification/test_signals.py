"""Each fraud signal fires on a crafted duplicate, names the matching claim, and stays quiet
on a clean claim."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import Claim
from tests.claims.factories import jpeg_bytes, portal_customer
from tests.verification.factories import submitted_claim, verifier
from verification import services
from verification.fraud import claim_signals
from verification.models import CampaignReviewSettings

pytestmark = pytest.mark.django_db


def kinds(claim: Claim) -> list[str]:
    return [signal.kind for signal in claim_signals(claim)]


def matches(claim: Claim, kind: str) -> list[str]:
    signal = next(signal for signal in claim_signals(claim) if signal.kind == kind)
    return [number for _id, number in signal.claims]


def test_a_clean_claim_raises_no_signal():
    submitted_claim()
    clean = submitted_claim()
    assert kinds(clean) == []


def test_the_same_document_file_in_another_claim():
    same = jpeg_bytes((300, 200))
    first = submitted_claim(receipt=SimpleUploadedFile("a.jpg", same, "image/jpeg"))
    second = submitted_claim(receipt=SimpleUploadedFile("b.jpg", same, "image/jpeg"))
    assert kinds(second) == ["duplicate_document"]
    assert matches(second, "duplicate_document") == [first.number]
    assert matches(first, "duplicate_document") == [second.number]


def test_the_same_invoice_number_and_merchant_in_another_claim():
    first, second, other_merchant = submitted_claim(), submitted_claim(), submitted_claim()
    maker = verifier()
    for claim, number, merchant in (
        (first, "INV-2026-0042", "ICA Maxi Solna"),
        (second, "inv 2026 0042", "ica maxi, solna"),
        (other_merchant, "INV-2026-0042", "Coop Solna"),
    ):
        services.review_lock_take(claim=claim, actor=maker)
        services.invoice_details_record(
            claim=claim, actor=maker, invoice_number=number, merchant_name=merchant
        )
    assert kinds(second) == ["duplicate_invoice"]
    assert matches(second, "duplicate_invoice") == [first.number]
    assert kinds(other_merchant) == []


def test_the_same_national_id_across_different_winners():
    first = submitted_claim(details={"national_id": "19900101-1234"})
    second = submitted_claim(details={"national_id": "199001011234"})
    account = Claim.objects.get(pk=first.pk).customer.portal_account
    same_customer = submitted_claim(account=account, details={"national_id": "19900101-1234"})
    assert matches(second, "shared_national_id") == [first.number, same_customer.number]
    # The same person winning twice is not "another winner".
    assert matches(same_customer, "shared_national_id") == [second.number]


def test_the_same_phone_across_different_winners():
    first = submitted_claim(account=portal_customer(phone="+46701234567"))
    second = submitted_claim(account=portal_customer(phone="+4701234567"))
    assert "shared_phone" in kinds(second)
    assert matches(second, "shared_phone") == [first.number]
    assert "shared_phone" not in kinds(
        submitted_claim(account=portal_customer(phone="+46709999999"))
    )


def test_the_same_email_across_different_winners():
    first = submitted_claim(account=portal_customer(email="Alva.Winner@example.com"))
    second = submitted_claim(account=portal_customer(email="alva.winner+prizes@example.com"))
    assert matches(second, "shared_email") == [first.number]
    assert "shared_email" not in kinds(
        submitted_claim(account=portal_customer(email="someone@example.com"))
    )


def test_the_same_delivery_address_across_different_winners():
    first = submitted_claim(details={"address_line1": "Storgatan 12 B", "postal_code": "111 22"})
    second = submitted_claim(details={"address_line1": "storgatan 12b", "postal_code": "11122"})
    assert kinds(second) == ["shared_address"]
    assert matches(second, "shared_address") == [first.number]


def test_many_claims_from_one_ip_in_a_short_time():
    earlier = [submitted_claim(ip="203.0.113.9") for _ in range(2)]
    third = submitted_claim(ip="203.0.113.9")
    assert "ip_velocity" in kinds(third)
    assert matches(third, "ip_velocity") == sorted(claim.number for claim in earlier)
    # Two are under the default threshold of three.
    pair = [submitted_claim(ip="203.0.113.50") for _ in range(2)]
    assert "ip_velocity" not in kinds(pair[1])


def test_the_velocity_threshold_is_configured_per_campaign():
    first = submitted_claim(ip="198.51.100.7")
    second = submitted_claim(ip="198.51.100.7")
    CampaignReviewSettings.objects.create(scheme=second.scheme, velocity_threshold=2)
    assert matches(second, "ip_velocity") == [first.number]


def test_many_claims_from_one_device(client, settings):
    """The device fingerprint comes from the submitting request's browser."""
    from crm import context

    class Request:
        headers = {"User-Agent": "Mozilla/5.0 (Fraud phone)", "Accept-Language": "sv"}

    token = context.current_request.set(Request())
    try:
        claims = [submitted_claim() for _ in range(3)]
    finally:
        context.current_request.reset(token)
    assert matches(claims[2], "device_velocity") == [claims[0].number, claims[1].number]
    assert "ip_velocity" not in kinds(claims[2])
