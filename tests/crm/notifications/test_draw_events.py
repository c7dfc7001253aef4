"""Lucky-draw events become messages: every drawn winner hears once, in their language,
after the draw commits; a reserve promoted after a forfeit hears once; replays send nothing.

The draw runs through the rewards services on the real database; SMS go through the twilio
client to the local Messages API, email through a real SMTP server (tests/crm/notifications/
conftest.py), with Celery eager."""

from datetime import timedelta
from email.header import decode_header, make_header
from importlib import import_module

import pytest
from django.apps import apps
from django.db import transaction
from django.utils import timezone

from crm.events import publish
from crm.models import MessageTemplate, OutboundMessage
from crm.notifications.catalog import Channel, Event
from rewards.models import Code, DrawResult
from rewards.services.codes import CodeEntryOutcome, code_enter
from rewards.services.draws import draw_result_forfeit, draw_run
from tests.crm.notifications.factories import NotifiedCustomerFactory
from tests.rewards.factories import LuckyDrawSchemeFactory, PrizeFactory, make_code_batch, make_draw

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
BASE_URL = "https://rewards.example.com"
MY_CLAIMS_URL = f"{BASE_URL}/claim/"


@pytest.fixture
def public_site(settings):
    settings.NOTIFICATION_PUBLIC_BASE_URL = BASE_URL
    settings.NOTIFICATION_SITE_NAME = "Reward campaigns"


@pytest.fixture
def draw_with_entries():
    """A draw of 2 winners and 2 reserves over six customers' code entries. Customers
    alternate English and Swedish and have a phone but no email, so each message they
    get is one SMS."""
    scheme = LuckyDrawSchemeFactory(name="Summer draw")
    prize = PrizeFactory(scheme=scheme, name="Weekend trip", quantity_total=2)
    draw = make_draw(scheme, prize, winners=2, reserves=2)
    customers = [
        NotifiedCustomerFactory(
            first_name=f"Ada{index}", email="", preferred_language="sv" if index % 2 else "en"
        )
        for index in range(6)
    ]
    batch = make_code_batch(scheme, len(customers))
    for code, customer in zip(
        Code.objects.filter(batch=batch).order_by("serial"), customers, strict=True
    ):
        entered = code_enter(scheme_or_none=scheme, text=code.value, customer=customer)
        assert entered.outcome == CodeEntryOutcome.DRAW_ENTERED
    return draw


def run_draw(draw, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        drawn = draw_run(
            draw_id=draw.pk, actor="tests", now=draw.entries_close_at + timedelta(seconds=1)
        )
        assert OutboundMessage.objects.count() == 0  # nothing before the draw commits
    return drawn


def deadline_on(result: DrawResult) -> str:
    return timezone.localtime(result.claim_deadline_at).date().isoformat()


def expected_sms(event: str, result: DrawResult) -> str:
    customer = result.customer
    deadline = deadline_on(result)
    texts = {
        (Event.DRAW_WINNER_DRAWN, "en"): (
            f"Congratulations {customer.first_name}! You have won Weekend trip in the prize "
            f"draw of Summer draw. Claim it by {deadline} at {MY_CLAIMS_URL}"
        ),
        (Event.DRAW_WINNER_DRAWN, "sv"): (
            f"Grattis {customer.first_name}! Du har vunnit Weekend trip i utlottningen "
            f"Summer draw. Hämta ut din vinst senast {deadline} på {MY_CLAIMS_URL}"
        ),
        (Event.DRAW_RESERVE_PROMOTED, "en"): (
            f"Good news {customer.first_name}! You were a reserve in the prize draw of "
            f"Summer draw and now win Weekend trip. Claim it by {deadline} at {MY_CLAIMS_URL}"
        ),
        (Event.DRAW_RESERVE_PROMOTED, "sv"): (
            f"Goda nyheter {customer.first_name}! Du var reserv i utlottningen Summer draw "
            f"och vinner nu Weekend trip. Hämta ut din vinst senast {deadline} på {MY_CLAIMS_URL}"
        ),
    }
    return texts[(event, customer.preferred_language)]


def sms_sent_to(fake_twilio, phone: str) -> list[str]:
    return [
        request["form"]["Body"]
        for request in fake_twilio.requests
        if request.get("sid") and request["form"]["To"] == phone
    ]


def test_running_a_draw_sends_each_winner_one_message_in_their_language_after_commit(
    draw_with_entries, public_site, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    # When the draw runs and commits
    drawn = run_draw(draw_with_entries, django_capture_on_commit_callbacks)

    # Then each winner got exactly one SMS, in their language, and the reserves nothing yet
    results = list(
        DrawResult.objects.filter(draw=drawn).select_related("customer").order_by("position")
    )
    winners, reserves = results[:2], results[2:]
    assert [result.status for result in winners] == ["pending_claim", "pending_claim"]
    for winner in winners:
        assert sms_sent_to(fake_twilio, winner.customer.phone) == [
            expected_sms(Event.DRAW_WINNER_DRAWN, winner)
        ]
        [message] = OutboundMessage.objects.filter(customer=winner.customer)
        assert (message.event, message.channel, message.language, message.status) == (
            Event.DRAW_WINNER_DRAWN,
            Channel.SMS,
            winner.customer.preferred_language,
            Status.SENT,
        )
        assert message.idempotency_key == (
            f"draw.winner_drawn:draw-result-{winner.pk}-won:customer-{winner.customer_id}:sms"
        )
    for reserve in reserves:
        assert sms_sent_to(fake_twilio, reserve.customer.phone) == []
    assert OutboundMessage.objects.count() == 2
    assert len(fake_twilio.sent_sids) == 2


def test_forfeiting_a_winner_sends_the_promoted_reserve_one_message(
    draw_with_entries, public_site, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    # Given a drawn draw whose winners have been told
    drawn = run_draw(draw_with_entries, django_capture_on_commit_callbacks)
    first_winner, _second, first_reserve, second_reserve = DrawResult.objects.filter(
        draw=drawn
    ).order_by("position")

    # When the first winner forfeits
    with django_capture_on_commit_callbacks(execute=True):
        outcome = draw_result_forfeit(
            result=first_winner, reason="Not claimed by the claim deadline.", actor="tests"
        )

    # Then the first reserve is promoted and gets exactly one message; the second nothing
    assert outcome.promoted == first_reserve
    first_reserve.refresh_from_db()
    assert sms_sent_to(fake_twilio, first_reserve.customer.phone) == [
        expected_sms(Event.DRAW_RESERVE_PROMOTED, first_reserve)
    ]
    [message] = OutboundMessage.objects.filter(customer=first_reserve.customer)
    assert (message.event, message.language, message.status) == (
        Event.DRAW_RESERVE_PROMOTED,
        first_reserve.customer.preferred_language,
        Status.SENT,
    )
    assert not OutboundMessage.objects.filter(customer=second_reserve.customer).exists()
    assert OutboundMessage.objects.count() == 3


def test_replays_send_nothing_new(
    draw_with_entries, public_site, fake_twilio, celery_eager, django_capture_on_commit_callbacks
):
    # Given a draw that ran, a winner who forfeited and a reserve who was told
    drawn = run_draw(draw_with_entries, django_capture_on_commit_callbacks)
    first_winner = DrawResult.objects.filter(draw=drawn).order_by("position").first()
    with django_capture_on_commit_callbacks(execute=True):
        promoted = draw_result_forfeit(
            result=first_winner, reason="Claim finally rejected.", actor="tests"
        ).promoted
    sent = list(OutboundMessage.objects.order_by("pk").values_list("pk", "status"))
    requests = len(fake_twilio.requests)

    # When the draw runs again (a redelivered task), the winner forfeits again, and both
    # events are published again with their original ids (a replayed delivery)
    with django_capture_on_commit_callbacks(execute=True):
        draw_run(draw_id=drawn.pk, actor="tests", now=drawn.entries_close_at + timedelta(seconds=2))
        draw_result_forfeit(result=first_winner, reason="again", actor="tests")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for result in DrawResult.objects.filter(draw=drawn, is_reserve=False):
            publish(
                "draw.winner_drawn",
                customer_id=result.customer_id,
                event_id=f"draw-result-{result.pk}-won",
                draw={"prize_name": "Weekend trip", "campaign_name": "Summer draw"},
            )
        publish(
            "draw.reserve_promoted",
            customer_id=promoted.customer_id,
            event_id=f"draw-result-{promoted.pk}-promoted",
            draw={"prize_name": "Weekend trip", "campaign_name": "Summer draw"},
        )

    # Then no message was added or sent again
    assert list(OutboundMessage.objects.order_by("pk").values_list("pk", "status")) == sent
    assert len(sent) == 3
    assert len(fake_twilio.requests) == requests


def test_a_promoted_reserve_with_an_email_gets_one_email_in_swedish(
    public_site, smtp_server, celery_eager, django_capture_on_commit_callbacks
):
    # Given a one-winner, one-reserve draw between two Swedish-speaking customers who can be
    # reached by email only
    scheme = LuckyDrawSchemeFactory(name="Sommarlotteriet")
    prize = PrizeFactory(scheme=scheme, name="Cykel", quantity_total=1)
    draw = make_draw(scheme, prize, winners=1, reserves=1)
    customers = [
        NotifiedCustomerFactory(first_name="Ada", phone="", preferred_language="sv"),
        NotifiedCustomerFactory(first_name="Bo", phone="", preferred_language="sv"),
    ]
    batch = make_code_batch(scheme, 2)
    for code, customer in zip(
        Code.objects.filter(batch=batch).order_by("serial"), customers, strict=True
    ):
        code_enter(scheme_or_none=scheme, text=code.value, customer=customer)
    run_draw(draw, django_capture_on_commit_callbacks)
    winner, reserve = DrawResult.objects.filter(draw=draw).order_by("position")
    smtp_server.messages.clear()

    # When the winner forfeits
    with django_capture_on_commit_callbacks(execute=True):
        draw_result_forfeit(result=winner, reason="Not claimed.", actor="tests")

    # Then the reserve got exactly one email, in Swedish, from the default template
    reserve.refresh_from_db()
    [received] = smtp_server.messages
    assert received["To"] == reserve.customer.email
    template = MessageTemplate.objects.get(
        event=Event.DRAW_RESERVE_PROMOTED,
        channel=Channel.EMAIL,
        language="sv",
    )
    [message] = OutboundMessage.objects.filter(
        customer=reserve.customer, event=Event.DRAW_RESERVE_PROMOTED
    )
    assert (message.template, message.status) == (template, Status.SENT)
    subject = str(make_header(decode_header(received["Subject"])))
    assert subject == "En vinst har gått vidare till dig: Cykel"
    body = received.get_payload(decode=True).decode().replace("\r\n", "\n").rstrip("\n")
    assert (
        body
        == message.body
        == (
            f"Hej {reserve.customer.first_name},\n\n"
            "Goda nyheter: du stod på reservlistan i utlottningen Sommarlotteriet, och en "
            "vinnares vinst har nu gått vidare till dig. Du vinner Cykel.\n\n"
            f"Logga in och hämta ut din vinst senast {deadline_on(reserve)}:\n"
            f"{MY_CLAIMS_URL}\n\n"
            "Reward campaigns"
        )
    )


def test_the_default_draw_templates_migration_can_run_twice_and_keeps_edits():
    migration = import_module("crm.migrations.0007_default_draw_message_templates")
    edited = MessageTemplate.objects.get(
        event=Event.DRAW_WINNER_DRAWN, channel=Channel.SMS, language="sv"
    )
    edited.body = "Redigerad: {{ draw.prize_name }} {{ draw.claim_url }}"
    edited.save()
    count = MessageTemplate.objects.count()

    migration.add_default_draw_templates(apps, schema_editor=None)

    assert MessageTemplate.objects.count() == count
    assert set(
        MessageTemplate.objects.filter(event__startswith="draw.").values_list(
            "event", "channel", "language"
        )
    ) == {
        (event, channel, language)
        for event in (Event.DRAW_WINNER_DRAWN, Event.DRAW_RESERVE_PROMOTED)
        for channel in Channel.values
        for language in ("en", "sv")
    }
    edited.refresh_from_db()
    assert edited.body == "Redigerad: {{ draw.prize_name }} {{ draw.claim_url }}"
