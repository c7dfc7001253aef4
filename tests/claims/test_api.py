"""The claims API end to end through the test client: sign-in by one-time code and the
bearer token, the portal's session, the whole claim flow, every error as JSON
{code, message}, 404 for another customer's claim, and the portal's rate limits."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from claims.models import Claim, ClaimDocument, ClaimStatus, CustomerOTPDevice
from crm.models import AuditEvent, Customer
from tests.claims.factories import (
    EXE,
    PrizeFactory,
    Staff,
    access_token_for,
    claim_in,
    draft_claim,
    jpeg_bytes,
    pdf_bytes,
    portal_customer,
    require,
    winning_code,
)
from tests.claims.test_claiming import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_storage")]

API = "/api/v1/claims/"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def account():
    return portal_customer(first_name="Alva", last_name="Andersson")


@pytest.fixture
def auth(account):
    return bearer(access_token_for(account))


def upload(client, claim, kind, name, content, auth, content_type="image/jpeg"):
    return client.post(
        f"{API}{claim.number}/documents/",
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type=content_type)},
        **auth,
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- sign-in -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_customer_signs_in_through_the_api_and_gets_a_bearer_token(client, sent_codes):
    # When a new customer asks for a code by text message
    asked = client.post(
        f"{API}sign-in/", {"contact": "070-123 45 67"}, content_type="application/json"
    )

    # Then a code is sent, and nobody is created yet
    assert asked.status_code == 202
    body = asked.json()
    assert (body["channel"], body["destination"], body["expires_in"]) == ("sms", "+4670•••67", 600)
    assert not Customer.objects.exists()

    # When they send the code back with the sign-in token
    verified = client.post(
        f"{API}sign-in/verify/",
        {"sign_in_token": body["sign_in_token"], "code": sent_codes("+46701234567")},
        content_type="application/json",
    )

    # Then they get a bearer token that opens their claims, and no session
    assert verified.status_code == 200
    token = verified.json()
    assert (token["token_type"], token["expires_in"]) == ("Bearer", 3600)
    assert token["customer"]["phone"] == "+46701234567"
    assert "_auth_user_id" not in client.session
    me = Client().get(f"{API}me/", **bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json()["phone"] == "+46701234567"
    assert Customer.objects.filter(phone="+46701234567").count() == 1


@pytest.mark.django_db(transaction=True)
def test_known_and_unknown_numbers_get_the_same_answer(client, sent_codes):
    portal_customer(phone="+46701111111")

    known = client.post(f"{API}sign-in/", {"contact": "+46701111111"})
    unknown = client.post(f"{API}sign-in/", {"contact": "+46702222222"})

    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json())
    assert known.json()["destination"].replace("70111", "X").replace("11", "Y") == unknown.json()[
        "destination"
    ].replace("70222", "X").replace("22", "Y")


@pytest.mark.django_db(transaction=True)
def test_five_wrong_codes_kill_the_code_through_the_api(client, sent_codes, settings):
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0
    token = client.post(f"{API}sign-in/", {"contact": "+46701234567"}).json()["sign_in_token"]
    code = sent_codes("+46701234567")

    answers = [
        client.post(f"{API}sign-in/verify/", {"sign_in_token": token, "code": wrong(code)})
        for _ in range(5)
    ]
    right_too_late = client.post(f"{API}sign-in/verify/", {"sign_in_token": token, "code": code})

    assert [answer.status_code for answer in answers] == [400] * 5
    assert answers[0].json() == {
        "code": "wrong_code",
        "message": "That code is not right. Check it and try again. You have 4 tries left.",
        "tries_left": 4,
    }
    assert answers[4].json()["code"] == "too_many_failures"
    assert right_too_late.status_code == 400
    assert right_too_late.json()["code"] == "code_expired"
    assert CustomerOTPDevice.objects.get().throttling_failure_count == 5
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("sign_in_token", "code", "expected"),
    [
        ("not-a-token", "123456", "sign_in_expired"),
        ("", "123456", "invalid"),
        ("whatever", "12345", "invalid"),
    ],
)
def test_a_bad_sign_in_is_refused_as_json(client, sign_in_token, code, expected):
    response = client.post(f"{API}sign-in/verify/", {"sign_in_token": sign_in_token, "code": code})

    assert response.status_code == 400
    assert response.json()["code"] == expected
    assert response.json()["message"]


def test_a_sign_in_token_cannot_be_pointed_at_another_device(client, sent_codes):
    from django.core import signing

    client.post(f"{API}sign-in/", {"contact": "+46701234567"})
    device = CustomerOTPDevice.objects.get()
    forged = signing.dumps({"d": device.pk}, salt="another-salt")

    response = client.post(f"{API}sign-in/verify/", {"sign_in_token": forged, "code": "123456"})

    assert response.status_code == 400
    assert response.json()["code"] == "sign_in_expired"
    assert CustomerOTPDevice.objects.get().throttling_failure_count == 0


def test_a_malformed_contact_gets_the_portals_message(client):
    response = client.post(f"{API}sign-in/", {"contact": "12"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"]["contact"] == [
        "Enter a mobile number such as 070 123 45 67 or +46 70 123 45 67, or an email address."
    ]


@pytest.mark.django_db(transaction=True)
def test_sign_in_codes_share_the_portals_limit(client, settings, sent_codes):
    settings.CLAIM_OTP_SEND_RATE_PER_DESTINATION = "2/h"

    portal = client.post("/claim/sign-in/", {"contact": "+46701234567"})
    api = client.post(f"{API}sign-in/", {"contact": "+46701234567"})
    limited = client.post(f"{API}sign-in/", {"contact": "+46701234567"})

    assert (portal.status_code, api.status_code, limited.status_code) == (302, 202, 429)
    assert limited.json() == {
        "code": "rate_limited",
        "message": "Too many codes have been asked for. Wait an hour and try again.",
    }
    assert sent_codes.count("+46701234567") == 2


# -- the token --------------------------------------------------------------------------------


def test_without_credentials_the_api_answers_401_as_json(client):
    response = client.get(API)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not-signed", "Bearer eyJ1IjoxfQ:1vXyZa:forged"],
)
def test_a_bad_token_is_refused(client, account, header):
    response = client.get(API, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_token_expires_after_an_hour(client, account):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        auth = bearer(access_token_for(account))
        traveller.shift(timedelta(minutes=59))
        assert client.get(API, **auth).status_code == 200
        traveller.shift(timedelta(minutes=2))
        expired = client.get(API, **auth)

    assert expired.status_code == 401
    assert expired.json()["message"] == "The access token has expired. Sign in again."


def test_a_token_dies_with_the_account_or_a_password_reset(client, account, auth):
    assert client.get(API, **auth).status_code == 200
    account.user.set_unusable_password()
    account.user.save(update_fields=["password"])
    assert client.get(API, **auth).status_code == 401

    fresh = bearer(access_token_for(account))
    account.user.is_active = False
    account.user.save(update_fields=["is_active"])
    assert client.get(API, **fresh).status_code == 401


def test_a_token_dies_when_its_number_is_verified_by_another_customer(client, account, auth):
    someone_else = portal_customer()
    CustomerOTPDevice.objects.filter(user=account.user).update(user=someone_else.user)

    response = client.get(API, **auth)

    assert response.status_code == 401


def test_a_portal_session_works_and_writes_need_the_csrf_token(account):
    browser = Client(enforce_csrf_checks=True)
    sign_in(browser, account)
    code = winning_code()

    listed = browser.get(API)
    without_csrf = browser.post(f"{API}codes/", {"code": code.value})

    assert listed.status_code == 200
    assert without_csrf.status_code == 403
    assert "CSRF" in without_csrf.json()["message"]
    assert not Claim.objects.exists()


def test_staff_are_not_customers_of_the_api(admin_client):
    response = admin_client.get(API)

    assert response.status_code == 403
    assert response.json() == {
        "code": "permission_denied",
        "message": "Sign in as a customer to use the claims API.",
    }


def test_unknown_api_addresses_answer_json_404(client, auth):
    response = client.get(f"{API}C-2026-000001/nothing/here/", **auth)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- the claim flow ---------------------------------------------------------------------------


def test_the_whole_claim_through_the_api(client, account, auth):
    prize = PrizeFactory(name="Wireless headphones")
    require(prize.scheme, id_proof_required=True)
    code = winning_code(prize)

    # A winning code opens a draft
    entered = client.post(f"{API}codes/", {"code": code.value.lower()}, **auth)
    assert entered.status_code == 201
    assert entered.json()["outcome"] == "claim_started"
    assert entered.json()["message"] == "Congratulations! You have won Wireless headphones."
    number = entered.json()["claim"]["number"]
    claim = Claim.objects.get(number=number)
    assert claim.customer == account.customer

    # The form is checked with the portal's rules, on the whole form
    partial = client.patch(
        f"{API}{number}/",
        {"full_name": "  Alva   Andersson ", "postal_code": "11122!"},
        content_type="application/json",
        **auth,
    )
    assert partial.status_code == 400
    assert partial.json()["errors"] == {
        "address_line1": ["Enter the street address we should send the prize to."],
        "postal_code": ["That postal code does not look right. For example: 123 45."],
        "city": ["Enter your city or town."],
        "region": ["Choose the county you live in."],
    }
    saved = client.patch(
        f"{API}{number}/",
        {
            "full_name": "  Alva   Andersson ",
            "address_line1": "Storgatan 1",
            "postal_code": "111 22",
            "city": "Stockholm",
            "region": "SE-AB",
        },
        content_type="application/json",
        **auth,
    )
    assert saved.status_code == 200
    assert saved.json()["details"]["full_name"] == "Alva Andersson"
    assert saved.json()["details"]["region"] == "SE-AB"
    assert saved.json()["missing"] == ["invoice or receipt", "proof of identity"]

    # Sending too early says what is missing
    early = client.post(f"{API}{number}/submit/", **auth)
    assert early.status_code == 422
    assert early.json() == {
        "code": "incomplete",
        "message": "Your claim is not complete yet. Still needed: invoice or receipt, "
        "proof of identity.",
    }

    # A photo of the receipt and a PDF of the ID
    photo = upload(client, claim, "invoice", "kvitto.jpg", jpeg_bytes((800, 600)), auth)
    scan = upload(client, claim, "id_proof", "pass.pdf", pdf_bytes(), auth, "application/pdf")
    assert photo.status_code == scan.status_code == 201
    assert (photo.json()["content_type"], photo.json()["download_name"]) == (
        "image/jpeg",
        "kvitto.jpg",
    )
    assert (scan.json()["content_type"], scan.json()["kind_text"]) == (
        "application/pdf",
        "Proof of identity",
    )
    download = client.get(scan.json()["url"], **auth)
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="pass.pdf"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == pdf_bytes()

    # Send it
    sent = client.post(f"{API}{number}/submit/", **auth)
    assert sent.status_code == 200
    detail = sent.json()
    assert (detail["status"], detail["status_text"]) == ("submitted", "Sent, waiting to be checked")
    assert [step["status"] for step in detail["timeline"]] == ["submitted"]
    assert detail["documents_open"] == []
    assert sorted(document["kind"] for document in detail["documents"]) == ["id_proof", "invoice"]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED

    # It is listed, and cannot be changed any more
    listed = client.get(API, **auth).json()
    assert [item["number"] for item in listed["results"]] == [number]
    late = client.patch(
        f"{API}{number}/", {"city": "Malmö"}, content_type="application/json", **auth
    )
    assert late.status_code == 409
    assert late.json()["code"] == "wrong_status"
    assert Claim.objects.get(pk=claim.pk).city == "Stockholm"


def test_entering_ones_own_code_again_resumes_the_claim(client, account, auth):
    code = winning_code()
    first = client.post(f"{API}codes/", {"code": code.value}, **auth)
    again = client.post(f"{API}codes/", {"code": code.value}, **auth)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["outcome"] == "claim_resumed"
    assert again.json()["claim"]["number"] == first.json()["claim"]["number"]
    assert Claim.objects.count() == 1


def test_a_code_that_opens_no_claim_is_a_422_with_the_portals_words(client, auth):
    used = draft_claim(complete=False).code

    unknown = client.post(f"{API}codes/", {"code": "ABCD-EFGH-JKLM-N"}, **auth)
    taken = client.post(f"{API}codes/", {"code": used.value}, **auth)

    assert unknown.status_code == taken.status_code == 422
    assert unknown.json()["code"] == "invalid_format"
    assert unknown.json()["message"].startswith("That is not a valid code.")
    assert taken.json() == {
        "code": "already_claimed",
        "message": "This code has already been used.",
    }


def test_refused_uploads_say_why(client, account, auth, settings):
    claim = draft_claim(account=account, complete=False)

    program = upload(client, claim, "invoice", "invoice.jpg", EXE, auth)
    settings.CLAIM_UPLOAD_MAX_BYTES = 2000
    too_big = upload(client, claim, "invoice", "big.jpg", jpeg_bytes((600, 400)), auth)
    wrong_kind = upload(client, claim, "address_proof", "bill.jpg", jpeg_bytes(), auth)
    no_file = client.post(f"{API}{claim.number}/documents/", {"kind": "invoice"}, **auth)

    assert program.status_code == 422
    assert program.json() == {
        "code": "unsupported_type",
        "message": "This type of file cannot be uploaded. Upload a photo or a scan as "
        "JPEG, PNG, HEIC, PDF.",
    }
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "too_large"
    assert wrong_kind.status_code == 409
    assert wrong_kind.json()["message"] == "This claim does not take a new proof of address now."
    assert no_file.status_code == 400
    assert list(no_file.json()["errors"]) == ["file"]
    assert not ClaimDocument.objects.exists()


def test_the_status_and_timeline_after_a_request_for_a_document(client, account, auth):
    staff = Staff()
    claim = claim_in(ClaimStatus.RESUBMISSION_REQUESTED, staff=staff, account=account)

    detail = client.get(f"{API}{claim.number}/", **auth).json()
    assert detail["status_text"] == "We need a document again"
    assert detail["documents_requested"] == ["invoice"]
    assert detail["timeline"][-1]["reason"] == "The receipt photo is too blurry to read."
    assert detail["timeline"][-1]["requested_documents"] == ["invoice"]

    too_soon = client.post(f"{API}{claim.number}/submit/", **auth)
    assert too_soon.status_code == 422
    assert too_soon.json()["message"] == "Upload the new invoice or receipt first."
    upload(client, claim, "invoice", "sharp.jpg", jpeg_bytes((900, 700)), auth)
    sent = client.post(f"{API}{claim.number}/submit/", **auth)

    assert sent.status_code == 200
    assert sent.json()["status"] == "submitted"
    assert sent.json()["timeline"][-1]["is_resubmission"] is True


def test_a_dispatched_prize_shows_its_parcel(client, account, auth):
    claim = claim_in(ClaimStatus.DISPATCHED, staff=Staff(), account=account)

    step = client.get(f"{API}{claim.number}/", **auth).json()["timeline"][-1]

    assert step["status_text"] == "On its way"
    assert (step["shipment"]["carrier"], step["shipment"]["tracking_number"]) == (
        "PostNord",
        "00370712345678901234",
    )


def test_a_draw_win_is_claimed_through_the_api(client, drawn):
    winner = drawn[0].customer.portal_account
    auth = bearer(access_token_for(winner))

    wins = client.get(f"{API}draw-wins/", **auth).json()
    opened = client.post(f"{API}draw-wins/{drawn[0].pk}/claim/", **auth)
    someone_elses = client.post(f"{API}draw-wins/{drawn[1].pk}/claim/", **auth)

    assert [win["id"] for win in wins] == [drawn[0].pk]
    assert opened.status_code == 201
    assert opened.json()["status"] == "draft"
    assert someone_elses.status_code == 404
    assert Claim.objects.get().draw_result == drawn[0]


def test_the_customer_changes_their_language(client, account, auth):
    response = client.patch(
        f"{API}me/", {"preferred_language": "sv"}, content_type="application/json", **auth
    )
    invalid = client.patch(
        f"{API}me/", {"preferred_language": "xx"}, content_type="application/json", **auth
    )

    assert response.status_code == 200
    assert response.json()["preferred_language"] == "sv"
    assert invalid.status_code == 400
    assert Customer.objects.get(pk=account.customer_id).preferred_language == "sv"
    event = AuditEvent.objects.get(action="crm.customer_language_changed")
    assert (event.before, event.after) == (
        {"preferred_language": "en"},
        {"preferred_language": "sv"},
    )


def test_messages_follow_the_requests_language(client, auth):
    response = client.post(
        f"{API}codes/", {"code": "ABCD-EFGH-JKLM-N"}, HTTP_ACCEPT_LANGUAGE="sv", **auth
    )

    assert response.status_code == 422
    assert response.json()["message"].startswith("Det är inte en giltig kod.")


# -- another customer's claim ----------------------------------------------------------------


def test_another_customers_claim_and_documents_are_not_found(client, auth):
    theirs = draft_claim()
    document = theirs.documents.get()
    before = Claim.objects.filter(pk=theirs.pk).values().get()

    answers = {
        "detail": client.get(f"{API}{theirs.number}/", **auth),
        "update": client.patch(
            f"{API}{theirs.number}/", {"city": "X"}, content_type="application/json", **auth
        ),
        "upload": upload(client, theirs, "invoice", "x.jpg", jpeg_bytes(), auth),
        "download": client.get(f"{API}{theirs.number}/documents/{document.pk}/", **auth),
        "submit": client.post(f"{API}{theirs.number}/submit/", **auth),
        "missing": client.get(f"{API}C-2099-999999/", **auth),
    }

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        answers, 404
    )
    assert (
        answers["detail"].json()
        == answers["missing"].json()
        == {
            "code": "not_found",
            "message": "There is no such claim or document.",
        }
    )
    assert Claim.objects.filter(pk=theirs.pk).values().get() == before
    assert theirs.documents.count() == 1


def test_a_document_is_found_only_through_its_own_claim(client, account, auth):
    mine = draft_claim(account=account)
    theirs = draft_claim()
    their_document = theirs.documents.get()

    response = client.get(f"{API}{mine.number}/documents/{their_document.pk}/", **auth)

    assert response.status_code == 404


# -- rate limits shared with the portal ------------------------------------------------------


def test_code_entry_shares_the_portals_limit(client, account, settings):
    settings.CLAIM_CODE_ENTER_RATE_PER_CUSTOMER = "3/h"
    sign_in(client, account)
    auth = bearer(access_token_for(account))

    answers = [client.post("/claim/code/", {"code": "ABCD-EFGH-JKLM-N"}).status_code]
    answers += [
        client.post(f"{API}codes/", {"code": "ABCD-EFGH-JKLM-N"}, **auth).status_code
        for _ in range(3)
    ]

    assert answers == [200, 422, 422, 429]


def test_uploads_share_the_portals_limit(client, account, auth, settings):
    settings.CLAIM_UPLOAD_RATE_PER_CUSTOMER = "2/h"
    claim = draft_claim(account=account, complete=False)

    answers = [
        upload(client, claim, "invoice", f"{n}.jpg", jpeg_bytes(), auth).status_code
        for n in range(3)
    ]

    assert answers == [201, 201, 429]
    assert ClaimDocument.objects.filter(claim=claim).count() == 2
