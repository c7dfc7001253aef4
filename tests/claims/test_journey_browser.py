"""The Proof section's browser journeys (Playwright, Debian chromium, a phone viewport):

- the whole journey with a real JPEG photo and a real PDF, scanned by a real clamd, through
  to a request for a document again and sending it;
- the error paths, each with a clear message: five wrong sign-in codes, a bad prize code,
  a program renamed .jpg, a file over the limit;
- the portal in Swedish (a Swedish browser, and the language switcher).

Every portal page is saved at phone (390 x 844) and desktop (1280 x 800) width as
test-artifacts/journey-<page>-phone.png and journey-<page>-desktop.png.
"""

import io
import random

import pytest
from PIL import Image

from claims import services
from claims.models import Claim, ClaimStatus
from crm.models import Customer
from rewards.models import Code
from tests.claims.factories import (
    EXE,
    InstantWinSchemeFactory,
    PrizeFactory,
    Staff,
    jpeg_bytes,
    make_codes,
    pdf_bytes,
    require,
    winning_code,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_storage"),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def both_widths(page, screenshot, name: str) -> None:
    """Saves the page at phone and desktop width, checking nothing overflows the phone."""
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    screenshot(f"journey-{name}-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(f"journey-{name}-desktop")
    page.set_viewport_size(PHONE)


def sign_in(page, live_server, sent_codes, phone: str = "+46701234567") -> None:
    page.goto(f"{live_server.url}/claim/sign-in/")
    page.get_by_label("Mobile number or email address").fill(phone)
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/claim/sign-in/code/")
    page.get_by_label("Six-digit code").fill(sent_codes(phone))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/claim/")


def upload_in(page, slot_heading: str, path) -> None:
    slot = page.locator("section.document-slot").filter(
        has=page.get_by_role("heading", name=slot_heading)
    )
    slot.locator("input[type=file]").set_input_files(str(path))
    slot.locator("button[type=submit]").click()


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    """A real photo-like JPEG that does not compress well (so it is large)."""
    noise = random.Random(size[0]).randbytes(size[0] * size[1] * 3)
    image = Image.frombytes("RGB", size, noise)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


# -- the whole journey ------------------------------------------------------------------------


def test_the_whole_journey_with_a_photo_and_a_pdf(
    live_server, page, screenshot, sent_codes, tmp_path, settings, clamd_socket
):
    settings.CLAMD_SOCKET = clamd_socket
    settings.CLAMD_HOST = ""
    prize = PrizeFactory(name="Wireless headphones", scheme__name="Summer scratch card")
    require(prize.scheme, id_proof_required=True)
    code = winning_code(prize)
    receipt = tmp_path / "receipt.jpg"
    receipt.write_bytes(jpeg_bytes((1600, 1200)))
    passport = tmp_path / "passport.pdf"
    passport.write_bytes(pdf_bytes(pages=2))
    sharper = tmp_path / "receipt-sharp.jpg"
    sharper.write_bytes(jpeg_bytes((2000, 1500)))

    # Sign in with a code sent by text message
    page.goto(f"{live_server.url}/claim/sign-in/")
    assert page.get_by_role("heading", name="Sign in to claim your prize").is_visible()
    both_widths(page, screenshot, "sign-in")
    page.get_by_label("Mobile number or email address").fill("070 123 45 67")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/claim/sign-in/code/")
    both_widths(page, screenshot, "sign-in-code")
    page.get_by_label("Six-digit code").fill(sent_codes("+46701234567"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/claim/")
    assert page.get_by_role("heading", name="You have no claims yet").is_visible()
    both_widths(page, screenshot, "my-claims-empty")

    # Enter the code from the card
    page.get_by_role("link", name="Enter a code").click()
    page.wait_for_url("**/claim/code/")
    both_widths(page, screenshot, "enter-code")
    page.get_by_label("Your code").fill(code.value.lower())
    page.get_by_role("button", name="Check my code").click()

    # The prize, and the claim form
    claim = Claim.objects.get(code=code)
    page.wait_for_url(f"**/claim/claims/{claim.number}/details/")
    assert page.get_by_role("heading", name="Wireless headphones").is_visible()
    both_widths(page, screenshot, "details")
    page.get_by_label("Full name").fill("Alva Andersson")
    page.get_by_label("Street address").fill("Storgatan 1")
    page.get_by_label("Postal code").fill("111 22")
    page.get_by_label("City").fill("Stockholm")
    page.get_by_label("County (län)").select_option("SE-AB")
    page.get_by_role("button", name="Save and continue").click()

    # A photo of the receipt and a PDF of the passport
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    both_widths(page, screenshot, "documents")
    upload_in(page, "Invoice or receipt", receipt)
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    assert page.get_by_role("status").inner_text() == "Invoice or receipt uploaded: receipt.jpg"
    upload_in(page, "Proof of identity", passport)
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    assert page.get_by_role("status").inner_text() == "Proof of identity uploaded: passport.pdf"
    both_widths(page, screenshot, "documents-uploaded")
    assert sorted(claim.documents.values_list("kind", "content_type")) == [
        ("id_proof", "application/pdf"),
        ("invoice", "image/jpeg"),
    ]

    # Check and send
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"**/claim/claims/{claim.number}/review/")
    assert page.get_by_role("link", name="passport.pdf").is_visible()
    both_widths(page, screenshot, "review")
    page.get_by_role("button", name="Send my claim").click()
    page.wait_for_url(f"{live_server.url}/claim/claims/{claim.number}/")
    assert page.locator(".current-status").inner_text() == "Status: Sent, waiting to be checked"
    both_widths(page, screenshot, "status-sent")
    page.get_by_role("link", name="My claims").first.click()
    page.wait_for_url(f"{live_server.url}/claim/")
    assert page.get_by_text(claim.number).is_visible()
    both_widths(page, screenshot, "my-claims")

    # The verifiers ask for a sharper photo of the receipt
    staff = Staff()
    claim = services.claim_start_review(claim=claim, actor=staff.verifier)
    claim = services.claim_propose(
        claim=claim,
        actor=staff.verifier,
        outcome="resubmit",
        reason="The receipt photo is too blurry to read.",
        requested_document_kinds=["invoice"],
    )
    services.claim_request_resubmission(claim=claim, actor=staff.checker)
    page.goto(f"{live_server.url}/claim/claims/{claim.number}/")
    assert page.get_by_text("The receipt photo is too blurry to read.").first.is_visible()
    both_widths(page, screenshot, "status-document-requested")
    page.get_by_role("link", name="Upload the document again").first.click()
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    both_widths(page, screenshot, "documents-again")
    upload_in(page, "Invoice or receipt", sharper)
    page.wait_for_url(f"**/claim/claims/{claim.number}/documents/")
    page.get_by_role("button", name="Send the documents").click()
    page.wait_for_url(f"{live_server.url}/claim/claims/{claim.number}/")
    assert page.get_by_role("heading", name="New documents sent").is_visible()
    both_widths(page, screenshot, "status-resubmitted")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED


# -- the error paths -----------------------------------------------------------------------


def test_five_wrong_sign_in_codes_kill_the_code_with_a_clear_message(
    live_server, page, screenshot, sent_codes, settings
):
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0  # the one-second back-off is tested elsewhere
    page.goto(f"{live_server.url}/claim/sign-in/")
    page.get_by_label("Mobile number or email address").fill("+46701234567")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url("**/claim/sign-in/code/")
    code = sent_codes("+46701234567")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    for tries_left in (4, 3, 2, 1):
        page.get_by_label("Six-digit code").fill(wrong)
        page.get_by_role("button", name="Sign in").click()
        plural = "try" if tries_left == 1 else "tries"
        assert page.get_by_role("alert").inner_text() == (
            f"That code is not right. Check it and try again. You have {tries_left} {plural} left."
        )
        assert page.get_by_label("Six-digit code").get_attribute("aria-invalid") == "true"
    page.get_by_label("Six-digit code").fill(wrong)
    page.get_by_role("button", name="Sign in").click()

    assert page.get_by_role("alert").inner_text() == (
        "The code was entered wrongly too many times and no longer works. Ask for a new code."
    )
    assert page.get_by_label("Six-digit code").count() == 0
    assert page.get_by_role("button", name="Send me a new code").is_visible()
    screenshot("journey-error-otp-five-wrong-phone")
    assert not Customer.objects.exists()


def test_a_bad_code_gets_a_clear_message(live_server, page, screenshot, sent_codes):
    unknown = make_codes(InstantWinSchemeFactory())[0].value
    Code.objects.filter(value=unknown).delete()
    sign_in(page, live_server, sent_codes)

    page.goto(f"{live_server.url}/claim/code/")
    page.get_by_label("Your code").fill(unknown)
    page.get_by_role("button", name="Check my code").click()

    assert page.get_by_role("alert").inner_text() == (
        "We cannot find that code. Check each character on your card and try again."
    )
    assert page.get_by_label("Your code").get_attribute("aria-invalid") == "true"
    screenshot("journey-error-bad-code-phone")
    assert not Claim.objects.exists()


def test_a_program_renamed_jpg_and_a_file_over_the_limit_get_clear_messages(
    live_server, page, screenshot, sent_codes, tmp_path
):
    prize = PrizeFactory()
    require(prize.scheme, max_upload_bytes=100_000)
    code = winning_code(prize)
    program = tmp_path / "receipt.jpg"
    program.write_bytes(EXE)
    large = tmp_path / "large-receipt.jpg"
    large.write_bytes(noisy_jpeg((1200, 900)))
    assert large.stat().st_size > 100_000
    sign_in(page, live_server, sent_codes)
    page.goto(f"{live_server.url}/claim/code/")
    page.get_by_label("Your code").fill(code.value)
    page.get_by_role("button", name="Check my code").click()
    claim = Claim.objects.get(code=code)
    page.wait_for_url(f"**/claim/claims/{claim.number}/details/")
    page.goto(f"{live_server.url}/claim/claims/{claim.number}/documents/")

    upload_in(page, "Invoice or receipt", program)
    assert page.get_by_role("alert").inner_text() == (
        "This type of file cannot be uploaded. Upload a photo or a scan as JPEG, PNG, HEIC, PDF."
    )
    screenshot("journey-error-exe-renamed-jpg-phone")

    upload_in(page, "Invoice or receipt", large)
    assert page.get_by_role("alert").inner_text() == (
        "The file is too large. The largest file you can upload is 97.7\xa0KB."
    )
    screenshot("journey-error-file-too-large-phone")
    assert not claim.documents.exists()


# -- Swedish ---------------------------------------------------------------------------------


def test_the_portal_in_swedish(live_server, browser, sent_codes):
    from tests.conftest import ARTIFACTS

    context = browser.new_context(viewport=PHONE, locale="sv-SE")
    page = context.new_page()
    try:
        # A Swedish browser gets the portal in Swedish
        page.goto(f"{live_server.url}/claim/sign-in/")
        assert page.locator("html").get_attribute("lang") == "sv"
        assert page.get_by_role("heading", name="Logga in för att hämta ut din vinst").is_visible()
        page.get_by_label("Mobilnummer eller e-postadress").fill("070 123 45 67")
        page.get_by_role("button", name="Skicka en kod till mig").click()
        page.wait_for_url("**/claim/sign-in/code/")
        page.get_by_label("Sexsiffrig kod").fill(sent_codes("+46701234567"))
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_url(f"{live_server.url}/claim/")
        assert page.get_by_role("heading", name="Mina anspråk").is_visible()
        assert page.get_by_role("heading", name="Du har inga anspråk än").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "journey-swedish-phone.png"), full_page=True)
        assert Customer.objects.get(phone="+46701234567").preferred_language == "sv"

        # The switcher changes it, and the choice is remembered for the customer
        page.get_by_label("Språk", exact=True).select_option("en")
        page.get_by_role("button", name="Ändra").click()
        page.wait_for_url(f"{live_server.url}/claim/")
        assert page.get_by_role("heading", name="My claims").is_visible()
        assert Customer.objects.get(phone="+46701234567").preferred_language == "en"
    finally:
        context.close()
