"""A helpdesk agent signs in with password and TOTP, finds a customer by the phone number
the caller reads out, and adds a note, in a real browser."""

import pytest
from django.test import override_settings

from crm.models import AuditEvent, HelpdeskNote
from tests.crm.factories import STAFF_PASSWORD, give_totp_device, totp_token
from tests.crm.helpdesk.factories import (
    CustomerFactory,
    SchemeFactory,
    award,
    claim_for,
    helpdesk_user,
    message_for,
    participant_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@override_settings(STAFF_OTP_REQUIRED=True)
def test_an_agent_finds_a_customer_by_phone_and_adds_a_note(live_server, page, screenshot):
    # Given a customer with a claim, a wallet and a message, and another customer
    customer = CustomerFactory(first_name="Selma", last_name="Lagerlof", phone="+46701234567")
    claim = claim_for(customer)
    award(participant_for(customer, SchemeFactory(name="Coffee club")), 120)
    message_for(customer, event="claim.dispatched")
    CustomerFactory(first_name="Nils", last_name="Holgersson", phone="+46709876543")
    agent = helpdesk_user(username="agent.anna")
    device = give_totp_device(agent)

    # When the agent signs in with password and authenticator code
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/crm/customer/")
    page.get_by_label("Username").fill("agent.anna")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/accounts/login/verify/**")
    page.get_by_label("Six-digit code from your authenticator app").fill(totp_token(device))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/crm/customer/")

    # and searches for the number as the caller says it
    page.locator("#searchbar").fill("070-123 45 67")
    page.locator("#changelist-search input[type=submit]").click()
    results = page.locator("#result_list tbody tr")
    assert results.count() == 1
    screenshot("helpdesk-search-by-phone")
    results.first.locator("th a").click()

    # Then the customer 360 shows the claim, the wallet, the message and the audit trail
    page.wait_for_selector("#panel-claims")
    assert claim.number in page.locator("#panel-claims").inner_text()
    assert "120" in page.locator("#panel-wallets").inner_text()
    assert "claim.dispatched" in page.locator("#panel-messages").inner_text()
    assert page.locator("#panel-audit").is_visible()

    # and the agent adds a note
    page.locator("#id_note_category").select_option("complaint")
    page.locator("#id_note_text").fill("Caller says the parcel never arrived.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_selector("text=Note added.")
    assert "Caller says the parcel never arrived." in page.locator("#panel-notes").inner_text()
    assert "helpdesk_note.add" in page.locator("#panel-audit").inner_text()
    screenshot("helpdesk-customer-360-with-note")

    note = HelpdeskNote.objects.get()
    assert (note.customer_id, note.author_id, note.category) == (customer.pk, agent.pk, "complaint")
    assert AuditEvent.objects.filter(action="helpdesk_note.add", actor=agent).count() == 1
