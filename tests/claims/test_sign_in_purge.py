"""Addresses nobody proved are forgotten: a sign-in device never verified, and the sign-in
messages sent to an address, CLAIM_SIGN_IN_RETENTION_DAYS after the last code."""

from datetime import timedelta

import pytest
import time_machine

from claims.models import CustomerOTPDevice
from claims.services import sign_in_data_purge
from claims.tasks import sign_in_data_purge_task
from crm.models import OutboundMessage
from tests.claims.test_sign_in import START, ask_for_code, enter_code
from tests.crm.notifications.factories import OutboundMessageFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboundMessage.Status


def test_unproven_addresses_are_forgotten_after_the_retention_days(client, sent_codes, settings):
    settings.CLAIM_SIGN_IN_RETENTION_DAYS = 30
    now = START + timedelta(days=60)
    # Given, 60 days ago: a typo nobody verified, and a customer who signed in
    with time_machine.travel(START, tick=False):
        ask_for_code(client, "+46701111111")
        client.cookies.clear()
        ask_for_code(client, "+46702222222")
        enter_code(client, sent_codes("+46702222222"))
        # ...and a customer's own message (a claim's news), which is not the purge's
        news = OutboundMessageFactory(status=Status.SENT)
    # ...and, 29 days ago, another unproven number; 31 days ago a code still sending
    with time_machine.travel(now - timedelta(days=29), tick=False):
        client.cookies.clear()
        ask_for_code(client, "+46703333333")
    with time_machine.travel(now - timedelta(days=31), tick=False):
        stuck = OutboundMessageFactory(
            customer=None, event="otp.code", recipient="+46704444444", status=Status.SENDING
        )
    assert OutboundMessage.objects.filter(customer=None, status=Status.SENT).count() == 3

    # When the daily purge runs
    with time_machine.travel(now, tick=False):
        purged = sign_in_data_purge_task()

    # Then only the typo's device and the two old sign-in messages are gone
    assert purged == {"devices": 1, "messages": 2}
    kept = {
        device.destination: device.user_id is not None for device in CustomerOTPDevice.objects.all()
    }
    assert kept == {
        "+46702222222": True,  # verified: part of the customer's account
        "+46703333333": False,  # within the 30 days
    }
    assert set(OutboundMessage.objects.values_list("pk", flat=True)) == {
        news.pk,
        stuck.pk,
        OutboundMessage.objects.get(recipient="+46703333333").pk,
    }
    # ...and a second run forgets nothing more
    with time_machine.travel(now, tick=False):
        again = sign_in_data_purge()
    assert (again.devices, again.messages) == (0, 0)


def test_a_device_asked_again_recently_is_kept(client, sent_codes, settings):
    settings.CLAIM_SIGN_IN_RETENTION_DAYS = 30
    with time_machine.travel(START, tick=False):
        ask_for_code(client, "+46701111111")
    with time_machine.travel(START + timedelta(days=40), tick=False):
        ask_for_code(client, "+46701111111")

    with time_machine.travel(START + timedelta(days=50), tick=False):
        purged = sign_in_data_purge()

    # The device is kept (its last code is 10 days old); the 50-day-old message is not
    assert (purged.devices, purged.messages) == (0, 1)
    assert CustomerOTPDevice.objects.filter(destination="+46701111111").exists()
