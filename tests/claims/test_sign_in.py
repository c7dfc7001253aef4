"""Customer sign-in by one-time code, end to end through the test client."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from claims.models import CustomerAccount, CustomerOTPDevice
from crm.middleware import is_staff_user
from crm.models import AuditEvent, Customer
from tests.claims.factories import CustomerAccountFactory, CustomerFactory

# Real commits: the code is sent after commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

SIGN_IN = "/claim/sign-in/"
CODE = "/claim/sign-in/code/"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ask_for_code(client, contact, **extra):
    return client.post(SIGN_IN, {"contact": contact}, **extra)


def enter_code(client, code, **extra):
    return client.post(CODE, {"code": code}, **extra)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- the happy path -----------------------------------------------------------------


def test_a_new_customer_is_created_only_once_the_code_is_verified(client, sent_codes):
    # Given nobody with this number
    assert not Customer.objects.filter(phone="+46701234567").exists()

    # When they ask for a code, typed the Swedish way
    response = ask_for_code(client, "070-123 45 67", HTTP_ACCEPT_LANGUAGE="sv")

    # Then a code goes out by text message, and still no customer exists
    assert response.status_code == 302
    assert response["Location"] == CODE
    assert not Customer.objects.filter(phone="+46701234567").exists()
    code = sent_codes("+46701234567")

    # When they enter it
    response = enter_code(client, code, HTTP_ACCEPT_LANGUAGE="sv")

    # Then they are signed in on "My claims", as a new customer with a portal account
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    customer = Customer.objects.get(phone="+46701234567")
    assert customer.email == ""
    assert customer.preferred_language == "sv"
    account = CustomerAccount.objects.get(customer=customer)
    assert account.user.has_usable_password() is False
    assert account.user.is_staff is False
    assert account.user.is_superuser is False
    assert is_staff_user(account.user) is False
    assert set(
        AuditEvent.objects.filter(object_id__in=[str(customer.pk), str(account.pk)]).values_list(
            "action", flat=True
        )
    ) >= {"crm.customer_created", "portal.account_created", "portal.signed_in"}
    home = client.get(reverse("portal:home"))
    assert home.status_code == 200
    assert "You have no claims yet" in home.text
    assert "+46701234567" in home.text


def test_an_existing_customer_signs_in_by_email_and_keeps_one_account(client, sent_codes):
    customer = CustomerFactory(email="Alva.Winner@Example.com", preferred_language="en")

    ask_for_code(client, "  alva.winner@example.COM ")
    enter_code(client, sent_codes("alva.winner@example.com"))
    client.post(reverse("portal:sign-out"))
    ask_for_code(client, "alva.winner@example.com")
    response = enter_code(client, sent_codes("alva.winner@example.com"))

    assert response.status_code == 302
    assert Customer.objects.count() == 1
    account = CustomerAccount.objects.get()
    assert account.customer == customer
    assert get_user_model().objects.filter(customer_account=account).count() == 1
    assert client.get(reverse("portal:home")).status_code == 200


def test_the_email_is_in_the_customers_language_and_says_how_long_the_code_works(
    client, mailoutbox, sent_codes
):
    ask_for_code(client, "winner@example.com", HTTP_ACCEPT_LANGUAGE="sv")

    (message,) = mailoutbox
    code = sent_codes("winner@example.com")
    assert message.to == ["winner@example.com"]
    assert message.subject == "Din inloggningskod"
    assert message.body.startswith(f"Din inloggningskod är {code}.")
    assert "Den fungerar en gång, i 10 minuter." in message.body


# --- the code: expiry, single use, failures, storage ----------------------------------


def test_the_code_works_until_ten_minutes_have_passed(client, sent_codes):
    with time_machine.travel(START, tick=False) as traveller:
        ask_for_code(client, "+46701234567")
        code = sent_codes("+46701234567")
        traveller.shift(timedelta(minutes=9, seconds=59))
        response = enter_code(client, code)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_the_code_expires_after_ten_minutes(client, sent_codes):
    with time_machine.travel(START, tick=False) as traveller:
        ask_for_code(client, "+46701234567")
        code = sent_codes("+46701234567")
        traveller.shift(timedelta(minutes=10))
        # The pending sign-in ends with the code, so the expiry is checked on the device.
        device = CustomerOTPDevice.objects.get()
        assert device.has_live_code is False
        traveller.shift(timedelta(seconds=1))
        response = enter_code(client, code)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert not Customer.objects.exists()
    assert "_auth_user_id" not in client.session


def test_an_expired_code_is_refused_by_the_device_itself(sent_codes, client):
    from claims.services import VerifyOutcome, sign_in_code_verify

    with time_machine.travel(START, tick=False) as traveller:
        ask_for_code(client, "+46701234567")
        code = sent_codes("+46701234567")
        traveller.shift(timedelta(minutes=10))
        result = sign_in_code_verify(
            device_id=CustomerOTPDevice.objects.get().pk, code=code, language="en"
        )

    assert result.outcome == VerifyOutcome.NO_LIVE_CODE
    assert not Customer.objects.exists()


def test_a_code_works_only_once(client, sent_codes):
    ask_for_code(client, "+46701234567")
    code = sent_codes("+46701234567")
    device_id = CustomerOTPDevice.objects.get().pk
    assert enter_code(client, code).status_code == 302

    # The same code, replayed from another browser that had the pending sign-in
    from claims.services import VerifyOutcome, sign_in_code_verify

    result = sign_in_code_verify(device_id=device_id, code=code, language="en")

    assert result.outcome == VerifyOutcome.NO_LIVE_CODE
    assert CustomerAccount.objects.count() == 1


def test_five_wrong_tries_kill_the_code(client, sent_codes):
    with time_machine.travel(START, tick=False) as traveller:
        ask_for_code(client, "+46701234567")
        code = sent_codes("+46701234567")
        answers = []
        for _attempt in range(5):
            answers.append(enter_code(client, wrong(code)))
            traveller.shift(timedelta(seconds=30))  # past django-otp's back-off
        after_the_fifth = enter_code(client, code)

    assert [answer.status_code for answer in answers] == [400] * 5
    assert "You have 4 tries left." in answers[0].text
    assert "You have 1 try left." in answers[3].text
    assert "entered wrongly too many times and no longer works" in answers[4].text
    assert after_the_fifth.status_code == 400
    assert "expired or has already been used" in after_the_fifth.text
    device = CustomerOTPDevice.objects.get()
    assert device.token_hash == ""
    assert device.throttling_failure_count == 5
    assert not Customer.objects.exists()
    assert AuditEvent.objects.filter(action="portal.sign_in_code_failed").count() == 5


def test_a_second_guess_within_the_back_off_is_not_counted(client, sent_codes):
    with time_machine.travel(START, tick=False):
        ask_for_code(client, "+46701234567")
        code = sent_codes("+46701234567")
        enter_code(client, wrong(code))
        response = enter_code(client, code)

    assert response.status_code == 400
    assert "Wait a few seconds" in response.text
    assert CustomerOTPDevice.objects.get().throttling_failure_count == 1


def test_a_new_code_replaces_the_old_one(client, settings, sent_codes):
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0
    ask_for_code(client, "+46701234567")
    first = sent_codes("+46701234567")
    response = client.post(reverse("portal:sign-in-resend"))
    second = sent_codes("+46701234567")
    assert response.status_code == 302
    assert sent_codes.count("+46701234567") == 2

    if first != second:
        assert enter_code(client, first).status_code == 400
    assert enter_code(client, second).status_code == 302


def test_the_code_is_stored_only_as_a_keyed_hash(client, sent_codes):
    ask_for_code(client, "+46701234567")
    code = sent_codes("+46701234567")

    device = CustomerOTPDevice.objects.get()
    assert device.token_hash == device.hash_code(code)
    assert len(device.token_hash) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(d)::text FROM claims_customerotpdevice d")
        (row,) = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(string_agg(row_to_json(a)::text, ''), '') FROM crm_auditevent a"
        )
        (audit,) = cursor.fetchone()
    assert code not in row
    assert code not in audit


# --- rate limits and enumeration --------------------------------------------------------


def test_codes_are_rate_limited_per_phone_number(client, settings, sent_codes):
    settings.CLAIM_OTP_SEND_RATE_PER_DESTINATION = "3/h"

    answers = [ask_for_code(client, "+46701234567") for _ in range(4)]
    from_elsewhere = ask_for_code(client, "+46701234567", REMOTE_ADDR="198.51.100.9")

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]
    assert from_elsewhere.status_code == 429
    assert "Too many codes have been asked for" in answers[3].text
    assert sent_codes.count("+46701234567") == 3


def test_codes_are_rate_limited_per_ip_with_the_same_answer(client, settings):
    settings.CLAIM_OTP_SEND_RATE_PER_IP = "3/h"
    settings.CLAIM_OTP_SEND_RATE_PER_DESTINATION = "3/h"
    ip = {"REMOTE_ADDR": "203.0.113.7"}

    answers = [ask_for_code(client, f"+4670111000{n}", **ip) for n in range(4)]
    other_ip = ask_for_code(client, "+46701110009", REMOTE_ADDR="203.0.113.8")

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]
    assert other_ip.status_code == 302
    # The same shape as the per-number refusal: only the typed number differs.
    client.cookies.clear()
    for _ in range(3):
        ask_for_code(client, "+46701119999", REMOTE_ADDR="192.0.2.1")
    by_number = ask_for_code(client, "+46701119999", REMOTE_ADDR="192.0.2.1")
    assert by_number.status_code == answers[3].status_code == 429
    assert without_csrf(by_number.text).replace("+46701119999", "X") == without_csrf(
        answers[3].text
    ).replace("+46701110003", "X")


def test_code_checks_are_rate_limited_per_ip(client, settings, sent_codes):
    settings.CLAIM_OTP_VERIFY_RATE_PER_IP = "2/h"
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0

    ask_for_code(client, "+46701234567")
    code = sent_codes("+46701234567")
    answers = [enter_code(client, wrong(code)) for _ in range(2)]
    limited = enter_code(client, code)

    assert [answer.status_code for answer in answers] == [400, 400]
    assert limited.status_code == 429
    assert "Too many tries" in limited.text
    assert "_auth_user_id" not in client.session
    assert CustomerOTPDevice.objects.get().throttling_failure_count == 2


def test_code_checks_are_rate_limited_per_phone_number(client, settings, sent_codes):
    settings.CLAIM_OTP_VERIFY_RATE_PER_DESTINATION = "2/h"
    settings.CLAIM_OTP_THROTTLE_FACTOR = 0

    ask_for_code(client, "+46701234567")
    code = sent_codes("+46701234567")
    for n in range(2):
        enter_code(client, wrong(code), REMOTE_ADDR=f"198.51.100.{n + 1}")
    limited = enter_code(client, code, REMOTE_ADDR="198.51.100.99")

    assert limited.status_code == 429
    assert "_auth_user_id" not in client.session


def test_known_and_unknown_numbers_get_identical_answers(client, sent_codes):
    # Two numbers that mask alike (+4670•••67): one a customer's, one nobody's
    CustomerAccountFactory(customer__phone="+46701111167")
    known, unknown = "+46701111167", "+46702222267"

    def journey(number):
        client.cookies.clear()
        asked = ask_for_code(client, number)
        page = client.get(CODE)
        wrong_code = enter_code(client, wrong(sent_codes(number)))
        return [
            (asked.status_code, asked["Location"]),
            (page.status_code, without_csrf(page.text)),
            (wrong_code.status_code, without_csrf(wrong_code.text)),
        ]

    with time_machine.travel(START, tick=False):
        known_answers = journey(known)
        unknown_answers = journey(unknown)

    assert known_answers == unknown_answers
    assert sent_codes.count(known) == sent_codes.count(unknown) == 1
    assert not Customer.objects.filter(phone=unknown).exists()


def test_the_limited_answer_is_the_same_for_known_and_unknown_numbers(client, settings):
    settings.CLAIM_OTP_SEND_RATE_PER_DESTINATION = "1/h"
    CustomerFactory(phone="+46701111167")

    def limited(number):
        client.cookies.clear()
        ask_for_code(client, number)
        return ask_for_code(client, number)

    known, unknown = limited("+46701111167"), limited("+46702222267")

    assert known.status_code == unknown.status_code == 429
    assert without_csrf(known.text).replace("+46701111167", "X") == without_csrf(
        unknown.text
    ).replace("+46702222267", "X")


def test_a_malformed_number_is_refused_with_a_clear_message(client):
    response = ask_for_code(client, "12345")

    assert response.status_code == 200
    assert "Enter a mobile number such as 070 123 45 67" in response.text
    assert not CustomerOTPDevice.objects.exists()


def test_the_code_page_without_a_pending_sign_in_starts_again(client):
    response = client.get(CODE)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN


# --- sessions and access -----------------------------------------------------------------


def sign_in(client, sent_codes, phone):
    ask_for_code(client, phone)
    response = enter_code(client, sent_codes(phone))
    assert response.status_code == 302


def test_another_customers_session_cannot_see_this_ones_data(client, sent_codes):
    from django.test import Client

    alva = CustomerAccountFactory(
        customer__phone="+46701111111", customer__email="alva@example.com"
    )
    bo = CustomerAccountFactory(customer__phone="+46702222222", customer__email="bo@example.com")
    bos_browser = Client()

    sign_in(client, sent_codes, "+46701111111")
    sign_in(bos_browser, sent_codes, "+46702222222")

    alvas_page = client.get(reverse("portal:home")).text
    bos_page = bos_browser.get(reverse("portal:home")).text
    assert "alva@example.com" in alvas_page
    assert "bo@example.com" not in alvas_page
    assert "+46702222222" not in alvas_page
    assert "bo@example.com" in bos_page
    assert "alva@example.com" not in bos_page
    assert client.session["_auth_user_id"] == str(alva.user.pk)
    assert bos_browser.session["_auth_user_id"] == str(bo.user.pk)


def test_a_session_whose_number_moved_to_another_customer_loses_the_portal(client, sent_codes):
    from django.test import Client

    CustomerAccountFactory(customer__phone="+46701111111")
    sign_in(client, sent_codes, "+46701111111")
    assert client.get(reverse("portal:home")).status_code == 200

    # The number is given to someone else, who signs in with it
    Customer.objects.filter(phone="+46701111111").update(phone="+46709999999")
    sign_in(Client(), sent_codes, "+46701111111")

    assert client.get(reverse("portal:home")).status_code == 302


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("portal:home"))

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next=%2Fclaim%2F"


def test_staff_are_not_portal_customers(admin_client):
    response = admin_client.get(reverse("portal:home"))

    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)


def test_a_customer_session_is_not_a_staff_session(client, sent_codes):
    sign_in(client, sent_codes, "+46701234567")

    admin = client.get("/admin/")

    assert admin.status_code == 302
    assert admin["Location"] == "/admin/login/?next=/admin/"
    assert "staff_session_started_at" not in client.session
    user = get_user_model().objects.get(customer_account__customer__phone="+46701234567")
    assert is_staff_user(user) is False


def test_a_signed_in_customer_skips_the_sign_in_page(client, sent_codes):
    sign_in(client, sent_codes, "+46701234567")

    response = client.get(SIGN_IN)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_sign_out_ends_the_portal_session(client, sent_codes):
    sign_in(client, sent_codes, "+46701234567")

    response = client.post(reverse("portal:sign-out"))

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert client.get(reverse("portal:home")).status_code == 302


def test_next_leads_back_only_within_the_site(client, sent_codes):
    client.post(SIGN_IN + "?next=https://evil.example/", {"contact": "+46701234567"})
    response = enter_code(client, sent_codes("+46701234567"))

    assert response["Location"] == reverse("portal:home")


def test_the_home_page_links_the_portal(client):
    response = client.get("/")

    assert 'href="/claim/"' in response.text
