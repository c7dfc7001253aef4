"""Claiming through the portal: entering a code (every answer, and the rate limits), the
claim form with what each campaign asks for, documents, review and submit, resuming a draft,
and one code giving one claim even when two submissions race."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from claims import services
from claims.models import Claim, ClaimDocument, ClaimStatus, CustomerOTPDevice
from rewards.codes import display
from rewards.models import Code, Prize, Scheme
from tests.claims.factories import (
    InstantWinSchemeFactory,
    PrizeFactory,
    make_codes,
    pdf_bytes,
    portal_customer,
    require,
    winning_code,
)
from tests.claims.factories import jpeg_bytes as make_jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_storage")]


def sign_in(client, account):
    """The session a verified one-time code leaves (tests/claims/test_sign_in.py drives the
    real sign-in; here it is the starting point)."""
    device = CustomerOTPDevice.objects.create(
        user=account.user,
        channel=CustomerOTPDevice.Channel.SMS,
        destination=account.customer.phone,
        name="sms",
    )
    client.force_login(account.user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return account


@pytest.fixture
def account(client):
    return sign_in(client, portal_customer(first_name="Alva", last_name="Andersson"))


def enter(client, code_text, **extra):
    return client.post("/claim/code/", {"code": code_text}, **extra)


def alert(response) -> str:
    html = response.content.decode()
    start = html.index('role="alert"')
    return html[html.index(">", start) + 1 : html.index("</p>", start)].strip()


# -- entering a code -------------------------------------------------------------------------


def test_a_winning_code_opens_a_draft_claim_and_shows_the_prize(client, account):
    prize = PrizeFactory(name="Wireless headphones")
    code = winning_code(prize)

    # The customer types it the way it is printed, in small letters
    response = enter(client, display(code.value).lower())

    claim = Claim.objects.get(code=code)
    assert response.status_code == 302
    assert response.url == f"/claim/claims/{claim.number}/details/"
    assert (claim.customer, claim.status, claim.prize, claim.scheme) == (
        account.customer,
        ClaimStatus.DRAFT,
        prize,
        prize.scheme,
    )
    assert claim.deadline_at == prize.scheme.claim_deadline_at
    assert claim.number == f"C-{claim.created_at.year}-{claim.pk:06d}"
    code.refresh_from_db()
    assert (code.status, code.entered_by) == (Code.Status.ENTERED, account.customer)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1

    page = client.get(response.url).content.decode()
    assert "Congratulations!" in page
    assert "You have won" in page
    assert "Wireless headphones" in page
    # The name the customer is known by is already filled in
    assert 'value="Alva Andersson"' in page


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            "unknown",
            "We cannot find that code. Check each character on your card and try again.",
        ),
        ("typo", "That is not a valid code. A code has 13 letters and digits"),
        ("someone_elses", "This code has already been used."),
        ("ended", "This campaign has ended, so its codes can no longer be entered."),
        ("not_started", "This campaign has not started yet. Try again later."),
        ("deadline", "The deadline for claiming prizes in this campaign has passed."),
        ("losing", "Sorry, this code did not win a prize. Thank you for taking part!"),
        ("void", "This code has been cancelled and can no longer be used."),
        ("out_of_stock", "This code wins a prize that is no longer in stock."),
    ],
)
def test_a_code_that_wins_nothing_here_gets_a_plain_answer(client, account, setup, message):
    now = timezone.now()
    if setup == "unknown":
        text = make_codes(InstantWinSchemeFactory())[0].value
        Code.objects.filter(value=text).delete()
    elif setup == "typo":
        value = winning_code().value
        text = value[:-1] + ("A" if value[-1] != "A" else "B")
    elif setup == "someone_elses":
        code = winning_code()
        services.claim_start_from_code(
            customer=portal_customer().customer, actor=None, text=code.value
        )
        text = code.value
    elif setup == "ended":
        text = winning_code(PrizeFactory(scheme__ends_at=now - timedelta(days=1))).value
    elif setup == "not_started":
        text = winning_code(PrizeFactory(scheme__starts_at=now + timedelta(days=1))).value
    elif setup == "deadline":
        text = winning_code(
            PrizeFactory(scheme__ends_at=None, scheme__claim_deadline_at=now - timedelta(hours=1))
        ).value
    elif setup == "losing":
        text = make_codes(InstantWinSchemeFactory())[0].value
    elif setup == "void":
        code = winning_code()
        Code.objects.filter(pk=code.pk).update(status=Code.Status.VOID)
        text = code.value
    else:
        prize = PrizeFactory(quantity_total=1, quantity_awarded=1)
        text = make_codes(prize.scheme, prize=prize)[0].value
    claims_before = Claim.objects.count()

    response = enter(client, text)

    assert response.status_code == 200
    assert alert(response).startswith(message)
    assert Claim.objects.count() == claims_before


def test_a_lucky_draw_code_is_entered_in_the_draw(client, account):
    from rewards.models import Draw

    scheme = InstantWinSchemeFactory(kind=Scheme.Kind.LUCKY_DRAW)
    prize = PrizeFactory(scheme=scheme, name="A weekend in Paris")
    Draw.objects.create(
        scheme=scheme,
        prize=prize,
        winners_count=1,
        entries_close_at=timezone.now() + timedelta(days=3),
        algorithm="sha256-ctr-fisher-yates-draw-v1",
        seed_hash="a" * 64,
        seed="b" * 64,
    )
    code = make_codes(scheme)[0]

    first = enter(client, code.value)
    again = enter(client, code.value)

    assert alert(first) == (
        "Your code is entered in the prize draw. We will tell you if you win. Good luck!"
    )
    assert alert(again) == "You have already entered this code in the prize draw."
    assert not Claim.objects.exists()


def test_entering_ones_own_code_again_resumes_the_claim(client, account):
    code = winning_code()
    enter(client, code.value)
    claim = Claim.objects.get(code=code)

    response = enter(client, display(code.value))

    assert response.status_code == 302
    assert response.url == f"/claim/claims/{claim.number}/"
    assert Claim.objects.filter(code=code).count() == 1
    page = client.get(response.url).content.decode()
    assert "You have already entered this code. Here is your claim." in page
    assert "Continue your claim" in page
    # And "My claims" leads back into the draft
    home = client.get("/claim/").content.decode()
    assert f'href="/claim/claims/{claim.number}/details/"' in home
    assert "Continue your claim" in home


def test_code_entry_is_rate_limited_per_customer(client, account, settings):
    settings.CLAIM_CODE_ENTER_RATE_PER_CUSTOMER = "3/h"
    scheme = InstantWinSchemeFactory()
    codes = make_codes(scheme, count=4)
    answers = [enter(client, code.value).status_code for code in codes]

    assert answers == [200, 200, 200, 429]
    limited = enter(client, codes[3].value)
    assert alert(limited) == "Too many codes have been entered. Wait an hour and try again."
    # The limited attempt did not even look at the code
    assert Code.objects.get(pk=codes[3].pk).status == Code.Status.ISSUED


def test_code_entry_is_rate_limited_per_ip_across_customers(client, settings):
    settings.CLAIM_CODE_ENTER_RATE_PER_IP = "2/h"
    codes = make_codes(InstantWinSchemeFactory(), count=3)
    sign_in(client, portal_customer())
    assert enter(client, codes[0].value).status_code == 200
    assert enter(client, codes[1].value).status_code == 200
    client.logout()
    sign_in(client, portal_customer())
    assert enter(client, codes[2].value).status_code == 429
    # Another address is not held back
    assert enter(client, codes[2].value, REMOTE_ADDR="192.0.2.7").status_code == 200


def test_an_empty_code_is_asked_for_again(client, account):
    response = enter(client, "  ")
    assert response.status_code == 200
    assert "Enter the code from your card or pack." in response.content.decode()


# -- one code, one claim ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_customers_racing_for_one_code_get_one_claim():
    # Given a winning code and two customers who both have it (a shared photo of the card)
    prize = PrizeFactory(quantity_total=5)
    code = winning_code(prize)
    racers = [portal_customer(), portal_customer()]
    barrier = threading.Barrier(len(racers))
    outcomes = {}

    def race(account):
        try:
            barrier.wait(timeout=10)
            entry = services.claim_start_from_code(
                customer=account.customer, actor=account.user, text=code.value
            )
            outcomes[account.pk] = entry.outcome
        finally:
            connection.close()

    # When both submit it at the same moment
    threads = [threading.Thread(target=race, args=(account,)) for account in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one claim exists, the other customer is told the code is used, and the
    # prize left stock once
    assert sorted(outcomes.values()) == sorted(
        [services.CodeOutcome.CLAIM_STARTED, services.CodeOutcome.ALREADY_CLAIMED]
    )
    claim = Claim.objects.get(code=code)
    winner = next(a for a in racers if outcomes[a.pk] == services.CodeOutcome.CLAIM_STARTED)
    assert claim.customer_id == winner.customer_id
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_for_one_code_are_settled_by_the_database():
    # The last guard alone: two transactions insert a claim for the same code at once.
    from claims.services.claiming import _claim_create

    code = winning_code()
    racers = [portal_customer(), portal_customer()]
    barrier = threading.Barrier(2)
    results = []

    def insert(account):
        from django.db import IntegrityError, transaction

        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                _claim_create(
                    customer=account.customer, code=code, scheme=code.scheme, prize=code.prize
                )
            results.append("created")
        except IntegrityError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=insert, args=(account,)) for account in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["created", "refused"]
    assert Claim.objects.filter(code=code).count() == 1


# -- the claim form --------------------------------------------------------------------------


@pytest.fixture
def draft(client, account):
    code = winning_code()
    enter(client, code.value)
    return Claim.objects.get(code=code)


ADDRESS = {
    "full_name": "  Alva   Andersson ",
    "address_line1": "Storgatan 1",
    "address_line2": "",
    "postal_code": "111 22",
    "city": "Stockholm",
    "region": "SE-AB",
}


def test_the_claim_form_is_saved_tidily_and_leads_to_the_documents(client, draft):
    response = client.post(f"/claim/claims/{draft.number}/details/", ADDRESS)

    assert response.status_code == 302
    assert response.url == f"/claim/claims/{draft.number}/documents/"
    draft.refresh_from_db()
    assert (draft.full_name, draft.address_line1, draft.postal_code, draft.city, draft.region) == (
        "Alva Andersson",
        "Storgatan 1",
        "111 22",
        "Stockholm",
        "SE-AB",
    )


def test_the_claim_form_asks_for_the_county_with_the_address(client, draft):
    page = client.get(f"/claim/claims/{draft.number}/details/").content.decode()

    assert '<label for="id_region">County (län)</label>' in page
    select = page.split('<select name="region" id="id_region"', 1)[1].split("</select>", 1)[0]
    assert 'autocomplete="address-level1"' in select
    assert "required" in select
    assert select.count("<option ") == 22  # "Choose your county" and the 21 counties
    assert '<option value="SE-M">Skåne County</option>' in select


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("", "Choose the county you live in."),
        ("SE-XX", "Choose a county from the list."),
        ("Stockholm", "Choose a county from the list."),
    ],
)
def test_a_missing_or_unknown_county_is_refused_and_nothing_is_saved(
    client, draft, region, message
):
    response = client.post(f"/claim/claims/{draft.number}/details/", {**ADDRESS, "region": region})

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert 'id="id_region-error"' in page
    draft.refresh_from_db()
    assert (draft.full_name, draft.address_line1, draft.city, draft.region) == ("", "", "", "")


def test_the_claim_form_says_what_is_missing_or_wrong(client, draft):
    response = client.post(
        f"/claim/claims/{draft.number}/details/",
        {**ADDRESS, "full_name": "", "postal_code": "<script>"},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Some details need a second look." in page
    assert "Enter your full name." in page
    assert "That postal code does not look right. For example: 123 45." in page
    assert 'aria-invalid="true"' in page
    draft.refresh_from_db()
    assert draft.full_name == ""


def test_the_form_asks_what_the_campaign_asks(client, account):
    prize = PrizeFactory(kind=Prize.Kind.E_VOUCHER)
    require(
        prize.scheme,
        delivery_address_required=False,
        national_id_required=True,
        reference_required=True,
        reference_label="Receipt number",
        invoice_required=False,
    )
    code = winning_code(prize)
    enter(client, code.value)
    claim = Claim.objects.get(code=code)

    page = client.get(f"/claim/claims/{claim.number}/details/").content.decode()
    assert "Street address" not in page
    assert "County" not in page
    assert "National ID number" in page
    assert "Receipt number" in page
    assert "Documents" not in page  # no documents step

    refused = client.post(f"/claim/claims/{claim.number}/details/", {"full_name": "Alva A"})
    assert refused.status_code == 400
    assert "Enter your national ID number." in refused.content.decode()
    assert "Enter the receipt number." in refused.content.decode()

    saved = client.post(
        f"/claim/claims/{claim.number}/details/",
        {"full_name": "Alva A", "national_id": "19900101-1234", "reference": "R-55"},
    )
    assert saved.url == f"/claim/claims/{claim.number}/review/"
    submitted = client.post(f"/claim/claims/{claim.number}/review/")
    assert submitted.status_code == 302
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.SUBMITTED


# -- documents -------------------------------------------------------------------------------


def upload(client, claim, kind, name, content, content_type="image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/claim/claims/{claim.number}/documents/",
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type=content_type)},
    )


def test_the_documents_the_campaign_requires_are_uploaded_one_by_one(client, draft):
    require(draft.scheme, id_proof_required=True)
    page = client.get(f"/claim/claims/{draft.number}/documents/").content.decode()
    assert "Photo or scan of the invoice or receipt" in page
    assert "Photo or scan of the proof of identity" in page
    assert "Proof of address" not in page

    response = upload(client, draft, "invoice", "kvitto.jpg", make_jpeg())
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Invoice or receipt uploaded: kvitto.jpg" in page
    assert "Upload every document to continue." in page
    assert f'href="/claim/claims/{draft.number}/review/"' not in page

    upload(client, draft, "id_proof", "passport.pdf", pdf_bytes(), "application/pdf")
    documents = ClaimDocument.objects.filter(claim=draft).order_by("kind")
    assert [(d.kind, d.content_type, d.download_name) for d in documents] == [
        ("id_proof", "application/pdf", "passport.pdf"),
        ("invoice", "image/jpeg", "kvitto.jpg"),
    ]
    page = client.get(f"/claim/claims/{draft.number}/documents/").content.decode()
    assert f'href="/claim/claims/{draft.number}/review/"' in page


def test_a_new_upload_replaces_the_earlier_file_of_its_kind(client, draft):
    upload(client, draft, "invoice", "first.jpg", make_jpeg())
    upload(client, draft, "invoice", "second.jpg", make_jpeg((80, 60)))

    first, second = ClaimDocument.objects.filter(claim=draft).order_by("pk")
    assert first.superseded_by == second
    assert second.is_current
    assert not first.is_current


def test_a_program_renamed_jpg_is_refused_with_a_clear_message(client, draft):
    response = upload(client, draft, "invoice", "invoice.jpg", b"MZ\x90\x00" + b"\x00" * 200)

    assert response.status_code == 400
    assert alert(response) == (
        "This type of file cannot be uploaded. Upload a photo or a scan as JPEG, PNG, HEIC, PDF."
    )
    assert not ClaimDocument.objects.exists()


def test_the_campaigns_own_size_limit_applies(client, draft, private_storage):
    require(draft.scheme, max_upload_bytes=1000)
    response = upload(client, draft, "invoice", "big.jpg", make_jpeg((400, 300)))

    assert response.status_code == 400
    assert alert(response) == (
        "The file is too large. The largest file you can upload is 1000\xa0bytes."
    )
    assert not ClaimDocument.objects.exists()
    assert not list(private_storage.rglob("*.*"))


def test_a_document_kind_the_campaign_does_not_ask_for_is_refused(client, draft):
    response = upload(client, draft, "address_proof", "bill.jpg", make_jpeg())
    assert response.status_code == 400
    assert alert(response) == "This claim does not take a new proof of address now."
    assert not ClaimDocument.objects.exists()


def test_uploads_are_rate_limited_per_customer(client, draft, settings):
    settings.CLAIM_UPLOAD_RATE_PER_CUSTOMER = "2/h"
    assert upload(client, draft, "invoice", "a.jpg", make_jpeg()).status_code == 302
    assert upload(client, draft, "invoice", "b.jpg", make_jpeg()).status_code == 302
    limited = upload(client, draft, "invoice", "c.jpg", make_jpeg())
    assert limited.status_code == 429
    assert alert(limited) == "Too many uploads. Wait an hour and try again."
    assert ClaimDocument.objects.count() == 2


# -- review and submit ------------------------------------------------------------------------


def test_review_and_submit_sends_the_claim(client, draft):
    client.post(f"/claim/claims/{draft.number}/details/", ADDRESS)
    upload(client, draft, "invoice", "kvitto.jpg", make_jpeg())

    review = client.get(f"/claim/claims/{draft.number}/review/").content.decode()
    assert "Alva Andersson" in review
    assert "Storgatan 1" in review
    assert "kvitto.jpg" in review
    response = client.post(f"/claim/claims/{draft.number}/review/")

    assert response.status_code == 302
    assert response.url == f"/claim/claims/{draft.number}/"
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.SUBMITTED
    page = client.get(response.url).content.decode()
    assert "Thank you! Your claim is sent." in page
    assert "Claim sent" in page
    # A sent claim's form and documents are closed
    assert client.get(f"/claim/claims/{draft.number}/details/").url == response.url
    assert upload(client, draft, "invoice", "late.jpg", make_jpeg()).url == response.url


def test_an_incomplete_claim_says_what_is_still_needed(client, draft):
    page = client.get(f"/claim/claims/{draft.number}/review/").content.decode()
    assert "Still needed before you can send:" in page
    assert "Send my claim" not in page

    response = client.post(f"/claim/claims/{draft.number}/review/")
    assert response.status_code == 400
    assert alert(response) == (
        "Your claim is not complete yet. Still needed: your full name, your delivery address, "
        "invoice or receipt."
    )
    assert Claim.objects.get(pk=draft.pk).status == ClaimStatus.DRAFT


def test_a_draft_past_its_deadline_is_closed(client, draft):
    Claim.objects.filter(pk=draft.pk).update(deadline_at=timezone.now() - timedelta(minutes=1))
    response = client.get(f"/claim/claims/{draft.number}/details/")
    assert response.url == f"/claim/claims/{draft.number}/"
    page = client.get(response.url).content.decode()
    assert "The deadline has passed" in page
    assert "Continue your claim" not in page
