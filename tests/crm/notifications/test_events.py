"""crm.events: subscribers hear of an event after the publisher's transaction commits."""

import pytest
from django.db import transaction

from crm import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    calls: list[tuple[str, dict]] = []

    def listener(*, event_name, **payload):
        calls.append((event_name, payload))

    events.subscribe("test.happened", listener)
    yield calls
    events.unsubscribe("test.happened", listener)


def test_a_subscriber_hears_the_event_once_after_commit(heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.publish("test.happened", customer_id=7, event_id="e-1")
        assert heard == []  # not before commit

    assert heard == [("test.happened", {"customer_id": 7, "event_id": "e-1"})]


def test_nothing_is_delivered_when_the_transaction_rolls_back(
    heard, django_capture_on_commit_callbacks
):
    def publish_then_fail():
        with transaction.atomic():
            events.publish("test.happened", customer_id=7, event_id="e-1")
            raise RuntimeError("the publisher's change failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        publish_then_fail()

    assert callbacks == []
    assert heard == []


def test_a_failing_subscriber_does_not_stop_the_others(heard, django_capture_on_commit_callbacks):
    def broken(**payload):
        raise ValueError("subscriber bug")

    events.subscribe("test.happened", broken)
    events.subscribe("test.happened", broken)  # registering twice is a no-op
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            events.publish("test.happened", event_id="e-2")
    finally:
        events.unsubscribe("test.happened", broken)

    assert heard == [("test.happened", {"event_id": "e-2"})]


def test_every_notification_event_but_a_secret_has_the_engine_subscribed():
    from crm.notifications.catalog import EVENTS, Event
    from crm.notifications.subscribers import on_domain_event

    secret = {name for name, spec in EVENTS.items() if spec.is_secret}
    assert secret == {Event.OTP_CODE}
    assert all(events.subscribers_of(name) == [on_domain_event] for name in EVENTS.keys() - secret)
    # A sign-in code never travels as a domain event: its outbox row would keep the code
    assert events.subscribers_of(Event.OTP_CODE) == []
