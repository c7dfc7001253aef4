"""A voucher or e-voucher code issued at fulfilment reaches its winner: once, in the
``claim.delivered`` message in their language, and on their claim's status page (to them
alone; another customer gets 404)."""

import pytest
from django.core import mail

from claims.models import ClaimStatus
from claims.selectors import claim_voucher_code
from crm.models import MessageTemplate, OutboundMessage
from rewards.models import Prize
from tests.claims.factories import PrizeFactory, portal_customer
from tests.claims.test_claiming import sign_in
from tests.verification.factories import approved_claim, fulfiller
from verification import services
from verification.models import FulfilmentItem

pytestmark = pytest.mark.django_db

BASE_URL = "https://rewards.example.com"


@pytest.fixture(autouse=True)
def _delivery(settings, celery_eager):
    """Celery runs the send at once; email to Django's outbox, SMS to the log."""
    settings.NOTIFICATION_PUBLIC_BASE_URL = BASE_URL
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "logged"


def fulfil_voucher(account, django_capture_on_commit_callbacks, kind=Prize.Kind.E_VOUCHER):
    """An approved voucher claim of ``account``, released and completed; returns the claim
    and its issued code."""
    claim, _decision = approved_claim(
        prize=PrizeFactory(kind=kind, name="Cinema voucher"), account=account
    )
    helpdesk = fulfiller()
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
        item = services.fulfilment_item_complete(item=batch.items.get(), actor=helpdesk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DELIVERED
    assert item.voucher_code
    return claim, item.voucher_code


def delivered_messages(claim):
    return OutboundMessage.objects.filter(customer=claim.customer, event="claim.delivered")


@pytest.mark.parametrize("kind", [Prize.Kind.E_VOUCHER, Prize.Kind.VOUCHER])
def test_a_swedish_winner_gets_exactly_one_sms_with_the_code_in_swedish(
    kind, django_capture_on_commit_callbacks
):
    account = portal_customer(email="", preferred_language="sv")
    claim, code = fulfil_voucher(account, django_capture_on_commit_callbacks, kind=kind)

    messages = list(OutboundMessage.objects.filter(customer=claim.customer))
    assert len(messages) == 1
    message = messages[0]
    assert (message.event, message.channel, message.language) == ("claim.delivered", "sms", "sv")
    assert message.status == OutboundMessage.Status.SENT
    assert message.body.count(code) == 1
    assert "Din kod: " + code in message.body
    assert "har levererats" in message.body


def test_an_english_winner_gets_the_code_once_by_sms_and_once_by_email(
    django_capture_on_commit_callbacks,
):
    account = portal_customer(preferred_language="en")
    claim, code = fulfil_voucher(account, django_capture_on_commit_callbacks)

    by_channel = {m.channel: m for m in delivered_messages(claim)}
    assert sorted(by_channel) == ["email", "sms"]
    assert delivered_messages(claim).count() == 2
    for message in by_channel.values():
        assert message.language == "en"
        assert message.body.count(code) == 1
        assert "Your voucher code: " + code in message.body
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [claim.customer.email]
    assert code in mail.outbox[0].body


def test_completing_again_sends_nothing_new(django_capture_on_commit_callbacks):
    account = portal_customer(email="", preferred_language="en")
    claim, code = fulfil_voucher(account, django_capture_on_commit_callbacks)
    item = FulfilmentItem.objects.get(claim=claim)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.fulfilment_item_complete(item=item, actor=fulfiller())
    assert again.voucher_code == code
    assert delivered_messages(claim).count() == 1


def test_a_points_prize_message_has_no_voucher_line(
    points_prize, django_capture_on_commit_callbacks
):
    account = portal_customer(email="", preferred_language="en")
    claim, _decision = approved_claim(prize=points_prize, account=account)
    helpdesk = fulfiller()
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.fulfilment_release(claim_ids=[claim.pk], actor=helpdesk)
        services.fulfilment_item_complete(item=batch.items.get(), actor=helpdesk)
    message = delivered_messages(claim).get()
    assert "voucher code" not in message.body
    assert "has been delivered. Enjoy!" in message.body
    assert claim_voucher_code(claim) == ""


def test_an_edited_template_is_kept_and_still_sent(django_capture_on_commit_callbacks):
    """The data migration changed only the defaults; an operator's own text is used as is."""
    MessageTemplate.objects.filter(event="claim.delivered", channel="sms", language="en").update(
        body="Here it is: {{ claim.voucher_code }}"
    )
    account = portal_customer(email="", preferred_language="en")
    claim, code = fulfil_voucher(account, django_capture_on_commit_callbacks)
    assert delivered_messages(claim).get().body == f"Here it is: {code}"


def test_the_status_page_shows_the_code_to_its_owner_only(
    client, private_storage, django_capture_on_commit_callbacks
):
    owner = portal_customer(preferred_language="en")
    claim, code = fulfil_voucher(owner, django_capture_on_commit_callbacks)

    sign_in(client, owner)
    response = client.get(f"/claim/claims/{claim.number}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your voucher code" in page
    assert code in page

    client.logout()
    sign_in(client, portal_customer())
    response = client.get(f"/claim/claims/{claim.number}/")
    assert response.status_code == 404
    assert code not in response.content.decode()


def test_the_status_page_shows_the_code_in_swedish(
    client, settings, private_storage, django_capture_on_commit_callbacks
):
    owner = portal_customer(preferred_language="sv")
    claim, code = fulfil_voucher(owner, django_capture_on_commit_callbacks)
    sign_in(client, owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "sv"
    page = client.get(f"/claim/claims/{claim.number}/").content.decode()
    assert "Din kod till värdebeviset" in page
    assert code in page
