"""The customer's preferred language: remembered when a signed-in customer switches language,
brought back when they sign in (claims/language.py), and the switcher on every portal page."""

import re

import pytest
from django.conf import settings

from claims.models import ClaimStatus
from crm.models import AuditEvent, Customer
from tests.claims.factories import Staff, claim_in, draft_claim, portal_customer
from tests.claims.test_claiming import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_storage")]


def switch_language(client, language: str, next_url: str):
    return client.post("/i18n/setlang/", {"language": language, "next": next_url})


def sign_in_with_code(client, sent_codes, contact: str, **headers):
    client.post("/claim/sign-in/", {"contact": contact}, **headers)
    return client.post("/claim/sign-in/code/", {"code": sent_codes(contact)}, **headers)


def test_a_signed_in_customer_switching_language_is_remembered(client):
    account = sign_in(client, portal_customer(preferred_language="en"))

    switched = switch_language(client, "sv", "/claim/")
    page = client.get(switched["Location"])

    assert switched["Location"] == "/claim/"
    assert "Mina anspråk" in page.text
    customer = Customer.objects.get(pk=account.customer_id)
    assert customer.preferred_language == "sv"
    event = AuditEvent.objects.get(action="crm.customer_language_changed")
    assert (event.actor, event.before, event.after) == (
        account.user,
        {"preferred_language": "en"},
        {"preferred_language": "sv"},
    )

    # Further pages in the same language write nothing more
    client.get("/claim/code/")
    assert AuditEvent.objects.filter(action="crm.customer_language_changed").count() == 1


def test_switching_back_is_remembered_too(client):
    account = sign_in(client, portal_customer(preferred_language="en"))

    switch_language(client, "sv", "/claim/")
    client.get("/claim/")
    switch_language(client, "en", "/claim/")
    page = client.get("/claim/")

    assert "My claims" in page.text
    assert Customer.objects.get(pk=account.customer_id).preferred_language == "en"
    assert AuditEvent.objects.filter(action="crm.customer_language_changed").count() == 2


def test_a_visitor_who_is_not_signed_in_changes_no_customer(client):
    customer = portal_customer(preferred_language="en").customer

    switch_language(client, "sv", "/claim/sign-in/")
    page = client.get("/claim/sign-in/")

    assert "Logga in" in page.text
    assert Customer.objects.get(pk=customer.pk).preferred_language == "en"
    assert not AuditEvent.objects.filter(action="crm.customer_language_changed").exists()


@pytest.mark.django_db(transaction=True)
def test_sign_in_brings_back_the_customers_language(client, sent_codes):
    # Given a customer who chose Swedish earlier, signing in from an English browser
    portal_customer(phone="+46701234567", preferred_language="sv")

    response = sign_in_with_code(client, sent_codes, "+46701234567", HTTP_ACCEPT_LANGUAGE="en")

    # Then the portal switches to Swedish, and stays so
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"
    page = client.get("/claim/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="sv">' in page.text
    assert "Mina anspråk" in page.text
    assert Customer.objects.get(phone="+46701234567").preferred_language == "sv"


@pytest.mark.django_db(transaction=True)
def test_a_language_picked_before_signing_in_is_remembered(client, sent_codes):
    portal_customer(phone="+46701234567", preferred_language="en")

    switch_language(client, "sv", "/claim/sign-in/")
    sign_in_with_code(client, sent_codes, "+46701234567")

    assert Customer.objects.get(phone="+46701234567").preferred_language == "sv"
    assert "Mina anspråk" in client.get("/claim/").text


@pytest.mark.django_db(transaction=True)
def test_an_old_choice_on_another_device_does_not_overwrite_a_newer_one(sent_codes):
    from django.test import Client

    portal_customer(phone="+46701234567", preferred_language="sv")
    phone, laptop = Client(), Client()
    sign_in_with_code(phone, sent_codes, "+46701234567")
    sign_in_with_code(laptop, sent_codes, "+46701234567")

    # The customer switches to English on the laptop
    switch_language(laptop, "en", "/claim/")
    laptop.get("/claim/")
    assert Customer.objects.get(phone="+46701234567").preferred_language == "en"

    # The phone still shows Swedish from its own session, but that is not a new choice
    assert "Mina anspråk" in phone.get("/claim/").text
    assert Customer.objects.get(phone="+46701234567").preferred_language == "en"


def portal_pages(client, account) -> list[str]:
    staff = Staff()
    draft = draft_claim(account=account)
    waiting = claim_in(ClaimStatus.RESUBMISSION_REQUESTED, staff=staff, account=account)
    return [
        "/claim/",
        "/claim/code/",
        f"/claim/claims/{draft.number}/",
        f"/claim/claims/{draft.number}/details/",
        f"/claim/claims/{draft.number}/documents/",
        f"/claim/claims/{draft.number}/review/",
        f"/claim/claims/{waiting.number}/",
        f"/claim/claims/{waiting.number}/documents/",
    ]


def test_the_language_switcher_is_on_every_portal_page_and_comes_back_to_it(client):
    account = sign_in(client, portal_customer())

    for path in portal_pages(client, account):
        page = client.get(path)
        assert page.status_code == 200, path
        form = re.search(r'<form action="/i18n/setlang/".*?</form>', page.text, re.S)
        assert form is not None, path
        assert f'name="next" type="hidden" value="{path}"' in form.group(0)
        assert '<label for="language"' in form.group(0)
        assert '<select id="language" name="language">' in form.group(0)
        switched = switch_language(client, "sv", path)
        assert switched["Location"] == path
        assert '<html lang="sv">' in client.get(path).text
        switch_language(client, "en", path)


@pytest.mark.parametrize("path", ["/claim/sign-in/"])
def test_the_language_switcher_is_on_the_sign_in_pages(client, path):
    page = client.get(path)

    assert '<form action="/i18n/setlang/"' in page.text
    assert f'name="next" type="hidden" value="{path}"' in page.text
