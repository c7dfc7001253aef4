"""The whole review in real browsers: a maker takes a claim and proposes an approval, a
different checker confirms it, the winner sees it approved on their status page, the
helpdesk releases it, dispatches it with a tracking number and marks it delivered, and the
winner sees it delivered. Screenshots go to test-artifacts/ as verification-*.png."""

import pytest
from playwright.sync_api import expect

from claims.models import Claim, ClaimStatus
from crm.models import AuditEvent
from tests.claims.factories import portal_customer
from tests.crm.factories import STAFF_PASSWORD, give_totp_device, totp_token
from tests.verification.factories import checker, checklist, fulfiller, submitted_claim, verifier

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}


def staff_page(browser, live_server, user, next_path):
    """A browser of the user's own, signed in with password and TOTP."""
    device = give_totp_device(user)
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server.url}{next_path}")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code from your authenticator app").fill(totp_token(device))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}{next_path}")
    return page


def shot(page, name):
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_maker_checker_release_dispatch_delivery(
    live_server, browser, page, screenshot, sent_codes
):
    account = portal_customer(phone="+46701234567", first_name="Alva")
    claim = submitted_claim(account=account)
    items = checklist(claim.scheme, "Invoice date inside the campaign period", "Name matches")
    maker, the_checker, helpdesk = verifier(), checker(), fulfiller()
    for user in (maker, the_checker, helpdesk):
        user.set_password(STAFF_PASSWORD)
        user.save(update_fields=["password"])

    # The maker finds the claim in the queue, takes it and proposes an approval
    maker_page = staff_page(browser, live_server, maker, "/verification/")
    assert maker_page.get_by_role("link", name=claim.number).is_visible()
    shot(maker_page, "verification-queue")
    maker_page.get_by_role("link", name=claim.number).click()
    maker_page.get_by_role("button", name="Take this claim").click()
    assert maker_page.get_by_role("status").inner_text() == f"You are reviewing {claim.number}."
    receipt = maker_page.get_by_role("img", name="Invoice or receipt")
    expect(receipt).to_be_visible()
    assert receipt.evaluate("image => image.complete && image.naturalWidth") > 0
    maker_page.get_by_role("button", name="Zoom in").click()
    expect(receipt).to_have_class("zoomable zoomed")
    maker_page.get_by_label("Invoice number").fill("INV-2026-0042")
    maker_page.get_by_label("Merchant").fill("ICA Maxi Solna")
    maker_page.get_by_role("button", name="Save invoice details").click()
    for item in items:
        maker_page.get_by_label(f"Invoice or receipt: {item.text}").check()
    maker_page.get_by_label("Approve").check()
    shot(maker_page, "verification-review-maker")
    maker_page.get_by_role("button", name="Send the proposal to a checker").click()
    maker_page.wait_for_url(f"{live_server.url}/verification/")
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.PROPOSED

    # The maker cannot decide on their own proposal: the page offers no decision
    maker_page.goto(f"{live_server.url}/verification/claims/{claim.pk}/")
    assert maker_page.get_by_role("button", name="Record the decision").count() == 0

    # A different checker confirms it
    checker_page = staff_page(
        browser, live_server, the_checker, f"/verification/claims/{claim.pk}/"
    )
    assert checker_page.get_by_role("heading", name="Proposal waiting for a checker").is_visible()
    checker_page.get_by_label("Confirm").check()
    shot(checker_page, "verification-review-checker")
    checker_page.get_by_role("button", name="Record the decision").click()
    assert checker_page.get_by_role("status").inner_text() == f"{claim.number}: Approved."
    assert checker_page.locator(".current-status").inner_text().startswith("Status: Approved")
    assert checker_page.get_by_text("verification.decide").is_visible()
    shot(checker_page, "verification-claim-approved-history")

    # The winner sees it approved
    page.goto(f"{live_server.url}/claim/")
    page.get_by_label("Mobile number or email address").fill("070-123 45 67")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/claim/sign-in/code/")
    page.get_by_label("Six-digit code").fill(sent_codes("+46701234567"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/claim/")
    page.goto(f"{live_server.url}/claim/claims/{claim.number}/")
    assert "Approved" in page.locator(".current-status").inner_text()
    screenshot("verification-customer-approved")

    # The helpdesk releases it, dispatches it with a tracking number and marks it delivered
    desk = staff_page(browser, live_server, helpdesk, "/verification/fulfilment/")
    assert desk.get_by_label(f"{claim.number}", exact=False).is_checked()
    shot(desk, "verification-fulfilment")
    desk.get_by_role("button", name="Release selected (Physical item) as a batch").click()
    desk.wait_for_url("**/verification/fulfilment/batches/*/")
    desk.get_by_label("Carrier", exact=True).fill("PostNord")
    desk.get_by_label("Tracking number", exact=True).fill("00370712345678901234")
    desk.get_by_role("button", name="Dispatch").click()
    assert desk.get_by_role("status").inner_text() == f"{claim.number} dispatched."
    assert desk.get_by_text("PostNord 00370712345678901234").is_visible()
    shot(desk, "verification-batch-dispatched")
    desk.get_by_role("button", name="Mark delivered").click()
    assert desk.get_by_role("status").inner_text() == f"{claim.number} delivered."
    shot(desk, "verification-batch-delivered")

    # The winner sees it delivered; the audit trail holds every step with its actor
    page.goto(f"{live_server.url}/claim/claims/{claim.number}/")
    assert "Delivered" in page.locator(".current-status").inner_text()
    screenshot("verification-customer-delivered")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DELIVERED
    actors = dict(
        AuditEvent.objects.filter(
            object_type="claims.claim",
            object_id=str(claim.pk),
            action__in=[
                "verification.propose",
                "verification.decide",
                "claim.dispatch",
                "claim.deliver",
            ],
        ).values_list("action", "actor_id")
    )
    assert actors == {
        "verification.propose": maker.pk,
        "verification.decide": the_checker.pk,
        "claim.dispatch": helpdesk.pk,
        "claim.deliver": helpdesk.pk,
    }
    for other in (maker_page, checker_page, desk):
        other.context.close()
