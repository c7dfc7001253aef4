"""The outbox of crm.events: an event is a DomainEvent row written in the publisher's
transaction, delivered after commit and, when that delivery never happened (the process died
after the commit) or failed, by crm.tasks.domain_events_redeliver: nothing is lost, nothing
is sent twice.

SMS go through the twilio client to the local Messages API (conftest.py), Celery eager."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from crm import events
from crm.models import AuditEvent, DomainEvent, OutboundMessage
from crm.roles import Role
from crm.tasks import domain_events_redeliver_task
from tests.crm.factories import staff_user
from tests.crm.notifications.factories import NotifiedCustomerFactory

pytestmark = pytest.mark.django_db

EVENT_LIST = "/admin/crm/domainevent/"
FAILING_EVENT = "test.outbox_failing"


@pytest.fixture
def outbox(settings):
    settings.DOMAIN_EVENT_REDELIVER_AFTER_SECONDS = 60
    settings.DOMAIN_EVENT_MAX_ATTEMPTS = 3


def publish_approved(customer, event_id="claim-1-transition-1"):
    events.publish(
        "claim.approved",
        customer_id=customer.pk,
        event_id=event_id,
        channels=["sms"],
        claim={
            "number": "C-0001",
            "status": "approved",
            "prize_name": "Weekend trip",
            "campaign_name": "Summer",
            "url": "https://rewards.example.com/claim/1/",
            "tracking_url": "",
        },
    )


def age(event: DomainEvent, seconds: int = 61) -> None:
    """Moves the event (and its last attempt) back in time, past the grace period."""
    past = timezone.now() - timedelta(seconds=seconds)
    DomainEvent.objects.filter(pk=event.pk).update(
        created_at=past, last_attempt_at=past if event.last_attempt_at else None
    )
    event.refresh_from_db()


def test_an_event_published_in_a_transaction_that_rolls_back_leaves_nothing(
    outbox, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    customer = NotifiedCustomerFactory()

    def publish_then_fail():
        with transaction.atomic():
            publish_approved(customer)
            assert DomainEvent.objects.count() == 1  # written in the publisher's transaction
            raise RuntimeError("the publisher's change failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        publish_then_fail()

    assert callbacks == []
    assert DomainEvent.objects.count() == 0
    assert domain_events_redeliver_task() == 0
    assert OutboundMessage.objects.count() == 0
    assert fake_twilio.requests == []


def test_a_committed_event_is_delivered_once_and_marked(
    outbox, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    customer = NotifiedCustomerFactory()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish_approved(customer)
        assert OutboundMessage.objects.count() == 0  # nothing before commit

    event = DomainEvent.objects.get()
    assert event.name == "claim.approved"
    assert event.payload["event_id"] == "claim-1-transition-1"
    assert event.delivered_at is not None
    assert (event.attempts, event.last_error) == (1, "")
    assert event.delivered_to == [
        "crm.notifications.subscribers.on_domain_event",
    ]
    assert len(fake_twilio.sent_sids) == 1
    [message] = OutboundMessage.objects.all()
    assert message.status == OutboundMessage.Status.SENT

    # Later, the redelivery finds nothing to do, however old the event is
    age(event, seconds=3600)
    assert domain_events_redeliver_task() == 0
    assert len(fake_twilio.sent_sids) == 1


def test_an_event_whose_process_died_after_commit_is_sent_exactly_once_by_the_redelivery(
    outbox, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    customer = NotifiedCustomerFactory()

    # The publisher commits, and the process dies before the on-commit delivery runs
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        publish_approved(customer)
    assert len(callbacks) == 1  # the delivery that never ran
    event = DomainEvent.objects.get()
    assert (event.delivered_at, event.attempts) == (None, 0)
    assert OutboundMessage.objects.count() == 0

    # Within the grace period the redelivery leaves it alone (the callback may still run)
    with django_capture_on_commit_callbacks(execute=True):
        assert domain_events_redeliver_task() == 0
    assert fake_twilio.requests == []

    # After it, the redelivery sends the message: once
    age(event)
    with django_capture_on_commit_callbacks(execute=True):
        assert domain_events_redeliver_task() == 1
    event.refresh_from_db()
    assert event.delivered_at is not None
    assert event.attempts == 1
    assert len(fake_twilio.sent_sids) == 1
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT

    # Running it again sends nothing; nor does the lost callback if it ran after all
    with django_capture_on_commit_callbacks(execute=True):
        assert domain_events_redeliver_task() == 0
        callbacks[0]()
    assert len(fake_twilio.sent_sids) == 1
    assert OutboundMessage.objects.count() == 1


def test_redelivering_an_event_twice_sends_nothing_new(
    outbox, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    """Subscribers are idempotent: should a delivery be lost after its subscriber committed
    (the row not marked), running the subscriber again finds the message by its key."""
    customer = NotifiedCustomerFactory()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        publish_approved(customer)
    DomainEvent.objects.update(delivered_at=None, delivered_to=[])
    age(DomainEvent.objects.get())

    with django_capture_on_commit_callbacks(execute=True):
        assert domain_events_redeliver_task() == 1

    assert OutboundMessage.objects.count() == 1
    assert len(fake_twilio.sent_sids) == 1


def test_a_subscriber_that_keeps_failing_ends_failed_and_visible_after_n_attempts(
    outbox, client, sign_in_verified, django_capture_on_commit_callbacks
):
    heard = []

    def broken(**payload):
        raise ValueError("subscriber bug")

    def working(*, event_name, **payload):
        heard.append(payload)

    events.subscribe(FAILING_EVENT, broken)
    events.subscribe(FAILING_EVENT, working)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            events.publish(FAILING_EVENT, event_id="e-1")
        event = DomainEvent.objects.get()
        assert event.delivered_at is None
        assert event.attempts == 1
        assert "ValueError: subscriber bug" in event.last_error
        assert heard == [{"event_id": "e-1"}]  # the other subscriber had it

        for attempt in (2, 3):
            age(event)
            assert domain_events_redeliver_task() == 0
            event.refresh_from_db()
            assert event.attempts == attempt
        age(event)
        assert domain_events_redeliver_task() == 0  # attempts used up: left alone
        event.refresh_from_db()
        assert (event.attempts, event.delivered_at) == (3, None)
        assert heard == [{"event_id": "e-1"}]  # a retry skips the subscriber that had it

        # The operator sees it failed in the admin, and retries once the bug is fixed
        operator = staff_user(Role.OPERATOR)
        sign_in_verified(operator)
        response = client.get(EVENT_LIST, {"state": "failed"})
        assert response.status_code == 200
        assert FAILING_EVENT in response.content.decode()
        assert "subscriber bug" in response.content.decode()
        assert client.get(EVENT_LIST, {"state": "pending"}).context["cl"].result_count == 0

        events.unsubscribe(FAILING_EVENT, broken)
        response = client.post(
            EVENT_LIST, {"action": "retry_events", "_selected_action": [event.pk]}
        )
        assert response.status_code == 302
        event.refresh_from_db()
        assert event.delivered_at is not None
        assert heard == [{"event_id": "e-1"}]
        audit = AuditEvent.objects.get(action="domain_event.retry")
        assert (audit.actor_id, audit.object_id) == (operator.pk, str(event.pk))
        assert audit.before["attempts"] == 3
        assert audit.after["delivered"] is True
    finally:
        events.unsubscribe(FAILING_EVENT, broken)
        events.unsubscribe(FAILING_EVENT, working)


def test_the_admin_is_read_only_and_retry_needs_the_permission(client, sign_in_verified):
    event = DomainEvent.objects.create(name=FAILING_EVENT, attempts=5, last_error="boom")
    sign_in_verified(staff_user(Role.HELPDESK))

    assert client.get(EVENT_LIST).status_code == 403
    assert client.get(f"{EVENT_LIST}{event.pk}/change/").status_code == 403


def test_redelivery_is_scheduled_every_minute():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="crm: redeliver domain events")
    assert task.task == "crm.tasks.domain_events_redeliver"
    assert (task.interval.every, task.interval.period) == (1, "minutes")
