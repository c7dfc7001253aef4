"""Abuse of the portal and the claims API: guessing sign-in codes, guessing prize codes,
hostile files (polyglots, decompression bombs), and two customers racing for one code."""

import io
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image

from claims.models import Claim, ClaimDocument, CustomerOTPDevice
from crm.models import Customer
from rewards.models import Prize
from tests.claims.factories import (
    POLYGLOT_SCRIPT,
    PrizeFactory,
    access_token_for,
    draft_claim,
    huge_png,
    jpeg_polyglot,
    png_html_polyglot,
    portal_customer,
    winning_code,
)
from tests.claims.test_claiming import sign_in

API = "/api/v1/claims/"


def bearer(account) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token_for(account)}"}


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- guessing sign-in codes ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_guessing_a_sign_in_code_is_stopped_even_with_fresh_codes(client, settings, sent_codes):
    # An attacker who knows a victim's number asks for code after code and guesses each one
    # five times, through the API and the portal alike. The default limits apply.
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0  # the per-try back-off would only slow the test
    victim = portal_customer(phone="+46701234567")
    guesses_checked = 0
    answers = []
    for round_number in range(6):
        asked = client.post(
            f"{API}sign-in/",
            {"contact": "+46701234567"},
            REMOTE_ADDR=f"198.51.100.{round_number + 1}",
        )
        answers.append(asked.status_code)
        if asked.status_code != 202:
            continue
        token = asked.json()["sign_in_token"]
        code = sent_codes("+46701234567")
        for attempt in range(5):
            answer = client.post(
                f"{API}sign-in/verify/",
                {"sign_in_token": token, "code": wrong(code)},
                REMOTE_ADDR=f"203.0.113.{round_number * 5 + attempt + 1}",
            )
            if answer.status_code == 400:
                guesses_checked += 1

    # Then the sixth code is refused (5 an hour per number), and of the 25 guesses sent at
    # most 20 were checked (20 code checks an hour per number), from whatever IPs
    assert answers == [202] * 5 + [429]
    assert guesses_checked == 20
    assert sent_codes.count("+46701234567") == 5
    # And no further code can be asked for on the portal either, for the hour
    portal = client.post("/claim/sign-in/", {"contact": "+46701234567"})
    assert portal.status_code == 429
    assert not CustomerOTPDevice.objects.filter(user=victim.user).exists()


# -- guessing prize codes ------------------------------------------------------------------


@pytest.mark.django_db
def test_guessing_prize_codes_is_limited_per_client_ip_across_customers(settings):
    settings.CLAIM_CODE_ENTER_RATE_PER_IP = "5/h"
    guessers = [portal_customer() for _ in range(3)]
    answers = [
        Client().post(f"{API}codes/", {"code": "ABCD-EFGH-JKLM-P"}, **bearer(account)).status_code
        for account in guessers
        for _ in range(2)
    ]

    assert answers == [422] * 5 + [429]
    assert not Claim.objects.exists()


@pytest.mark.django_db
def test_a_customer_guessing_through_the_portal_and_the_api_meets_one_limit(client, settings):
    settings.CLAIM_CODE_ENTER_RATE_PER_CUSTOMER = "4/h"
    account = sign_in(client, portal_customer())
    code = winning_code()
    auth = bearer(account)

    for _ in range(2):
        client.post("/claim/code/", {"code": "ABCD-EFGH-JKLM-P"})
        client.post(f"{API}codes/", {"code": "ABCD-EFGH-JKLM-P"}, **auth)
    right_one = client.post(f"{API}codes/", {"code": code.value}, **auth)
    on_the_page = client.post("/claim/code/", {"code": code.value})

    assert right_one.status_code == on_the_page.status_code == 429
    assert not Claim.objects.exists()


# -- hostile files ---------------------------------------------------------------------------


def stored_bytes(private_storage, document: ClaimDocument) -> bytes:
    return (private_storage / document.storage_name).read_bytes()


@pytest.mark.django_db
def test_a_jpeg_with_an_html_page_and_a_zip_appended_is_stored_without_them(
    client, private_storage
):
    account = sign_in(client, portal_customer())
    claim = draft_claim(account=account, complete=False)
    polyglot = jpeg_polyglot()
    assert POLYGLOT_SCRIPT in polyglot
    assert b"PK\x03\x04" in polyglot

    response = client.post(
        f"/claim/claims/{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("receipt.jpg", polyglot, "image/jpeg")},
    )

    assert response.status_code == 302
    document = ClaimDocument.objects.get(claim=claim)
    content = stored_bytes(private_storage, document)
    assert b"<script" not in content
    assert b"<html" not in content
    assert b"PK\x03\x04" not in content
    assert content.startswith(b"\xff\xd8")
    assert content.endswith(b"\xff\xd9")
    assert document.size_bytes == len(content) < len(polyglot)
    with Image.open(io.BytesIO(content)) as image:
        assert (image.format, image.size) == ("JPEG", (120, 90))
    # What the customer downloads is the re-encoded file, never sniffed
    download = client.get(f"/claim/claims/{claim.number}/documents/{document.pk}/")
    assert b"".join(download.streaming_content) == content
    assert download["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_a_png_html_polyglot_sent_to_the_api_is_stored_without_the_page(private_storage):
    account = portal_customer()
    claim = draft_claim(account=account, complete=False)
    polyglot = png_html_polyglot()
    with Image.open(io.BytesIO(polyglot)) as image:
        assert image.format == "PNG"  # a valid image, as well as a web page

    response = Client().post(
        f"{API}{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("id.png", polyglot, "image/png")},
        **bearer(account),
    )

    assert response.status_code == 201
    content = stored_bytes(private_storage, ClaimDocument.objects.get(claim=claim))
    assert b"<script" not in content
    assert b"Comment" not in content
    assert content.endswith(b"IEND\xaeB`\x82")


@pytest.mark.django_db
def test_an_html_page_dressed_as_a_jpeg_is_refused(client, private_storage):
    account = sign_in(client, portal_customer())
    claim = draft_claim(account=account, complete=False)
    fake = b"\xff\xd8\xff\xe0" + POLYGLOT_SCRIPT * 10

    response = client.post(
        f"/claim/claims/{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("photo.jpg", fake, "image/jpeg")},
    )

    assert response.status_code == 400
    assert "The picture could not be read." in response.text
    assert not ClaimDocument.objects.exists()
    assert not list(private_storage.rglob("*.*"))


@pytest.mark.django_db
def test_a_decompression_bomb_is_refused_quickly_by_the_portal_and_the_api(client, private_storage):
    account = sign_in(client, portal_customer())
    claim = draft_claim(account=account, complete=False)
    bomb = huge_png()

    started = time.perf_counter()
    page = client.post(
        f"/claim/claims/{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("bomb.png", bomb, "image/png")},
    )
    api = client.post(
        f"{API}{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("bomb.png", bomb, "image/png")},
        **bearer(account),
    )
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0
    assert page.status_code == 400
    assert "The picture has too many pixels: at most 40 million are accepted." in page.text
    assert api.status_code == 422
    assert api.json()["code"] == "too_many_pixels"
    assert not ClaimDocument.objects.exists()
    assert not list(private_storage.rglob("*.*"))


# -- one code, one claim ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_customers_racing_through_the_api_for_one_code_get_one_claim():
    prize = PrizeFactory(quantity_total=5)
    code = winning_code(prize)
    racers = [portal_customer(), portal_customer(), portal_customer()]
    headers = {account.pk: bearer(account) for account in racers}
    barrier = threading.Barrier(len(racers))
    answers: dict[int, tuple[int, dict]] = {}

    def race(account):
        try:
            barrier.wait(timeout=10)
            response = Client().post(f"{API}codes/", {"code": code.value}, **headers[account.pk])
            answers[account.pk] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(account,)) for account in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(status for status, _body in answers.values())
    assert statuses == [201, 422, 422]
    assert sorted(body.get("code", body.get("outcome")) for _s, body in answers.values()) == [
        "already_claimed",
        "already_claimed",
        "claim_started",
    ]
    claim = Claim.objects.get(code=code)
    winner = next(pk for pk, (status, _b) in answers.items() if status == 201)
    assert claim.customer_id == next(a.customer_id for a in racers if a.pk == winner)
    assert Prize.objects.get(pk=prize.pk).quantity_awarded == 1
    assert Customer.objects.count() == 3
