"""The winner's whole journey in a real browser at a phone's size: sign in with a one-time
code, enter a winning code, fill in the claim form, upload a photo of the receipt, send the
claim and follow it on the status page. Screenshots of each page (phone, and desktop for the
main ones) go to test-artifacts/ as claim-*.png."""

import pytest

from claims.models import Claim, ClaimStatus
from rewards.codes import display
from tests.claims.factories import PrizeFactory, jpeg_bytes, winning_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_storage"),
]


def desktop_screenshot(page, screenshot, name):
    phone = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(name)
    page.set_viewport_size(phone)


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_winner_claims_a_prize_on_a_phone(live_server, page, screenshot, sent_codes, tmp_path):
    prize = PrizeFactory(name="Wireless headphones", scheme__name="Summer scratch card")
    code = winning_code(prize)
    receipt = tmp_path / "receipt.jpg"
    receipt.write_bytes(jpeg_bytes((1200, 900)))

    # Given a winner who signs in with a code sent to their phone
    page.goto(f"{live_server.url}/claim/")
    page.get_by_label("Mobile number or email address").fill("070-123 45 67")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/claim/sign-in/code/")
    page.get_by_label("Six-digit code").fill(sent_codes("+46701234567"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/claim/")
    assert page.get_by_role("heading", name="You have no claims yet").is_visible()

    # When they enter the code from their card, with a typo first
    page.get_by_role("link", name="Enter a code").click()
    page.wait_for_url("**/claim/code/")
    wrong = code.value[:-1] + ("A" if code.value[-1] != "A" else "B")
    page.get_by_label("Your code").fill(wrong)
    page.get_by_role("button", name="Check my code").click()
    assert page.get_by_role("alert").inner_text().startswith("That is not a valid code.")
    screenshot("claim-enter-code-wrong-phone")
    page.get_by_label("Your code").fill(display(code.value).lower())
    page.get_by_role("button", name="Check my code").click()

    # Then they see the prize and the claim form
    claim = Claim.objects.get(code=code)
    page.wait_for_url(f"**/claim/claims/{claim.number}/details/")
    assert page.get_by_role("heading", name="Wireless headphones").is_visible()
    assert page.get_by_text("You have won").is_visible()
    assert fits_the_phone(page)
    screenshot("claim-details-phone")
    desktop_screenshot(page, screenshot, "claim-details-desktop")

    # A missing postal code is pointed out next to the field
    page.get_by_label("Full name").fill("Alva Andersson")
    page.get_by_label("Street address").fill("Storgatan 1")
    page.get_by_label("City").fill("Stockholm")
    page.get_by_label("County (län)").select_option("SE-AB")
    page.get_by_role("button", name="Save and continue").click()
    assert page.get_by_text("Enter your postal code.").is_visible()
    assert page.get_by_label("Postal code").get_attribute("aria-invalid") == "true"
    screenshot("claim-details-error-phone")
    page.get_by_label("Postal code").fill("111 22")
    page.get_by_role("button", name="Save and continue").click()

    # They upload a photo of the receipt
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    screenshot("claim-documents-phone")
    page.get_by_label("Photo or scan of the invoice or receipt").set_input_files(str(receipt))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    assert page.get_by_role("status").inner_text() == "Invoice or receipt uploaded: receipt.jpg"
    assert fits_the_phone(page)
    screenshot("claim-documents-uploaded-phone")
    desktop_screenshot(page, screenshot, "claim-documents-desktop")

    # They check what they send, and send it
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"**/claim/claims/{claim.number}/review/")
    assert page.get_by_text("Storgatan 1").is_visible()
    screenshot("claim-review-phone")
    page.get_by_role("button", name="Send my claim").click()

    # Then the status page says the claim is sent, and My claims lists it
    page.wait_for_url(f"{live_server.url}/claim/claims/{claim.number}/")
    assert page.get_by_role("status").inner_text().startswith("Thank you! Your claim is sent.")
    assert page.get_by_role("heading", name="Claim sent").is_visible()
    assert page.locator(".current-status").inner_text() == "Status: Sent, waiting to be checked"
    assert fits_the_phone(page)
    screenshot("claim-status-phone")
    desktop_screenshot(page, screenshot, "claim-status-desktop")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    assert claim.documents.get().download_name == "receipt.jpg"

    page.get_by_role("link", name="My claims").first.click()
    page.wait_for_url(f"{live_server.url}/claim/")
    assert page.get_by_text(claim.number).is_visible()
    screenshot("claim-my-claims-phone")
