"""The public campaign page: dates, and per lucky draw the published seed hash before the
draw, the revealed seed, entry digest and winning entries after it; never a seed early,
never a customer's name or contact details; 404 for an unknown campaign."""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from rewards.models import Code, DrawResult
from rewards.services.codes import CodeEntryOutcome, code_enter
from rewards.services.draws import DRAW_ALGORITHM, draw_run
from tests.claims.factories import CustomerFactory
from tests.rewards.factories import (
    LuckyDrawSchemeFactory,
    PrizeFactory,
    SchemeFactory,
    make_code_batch,
    make_draw,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    scheme = LuckyDrawSchemeFactory(name="Summer draw", code="summer-draw")
    prize = PrizeFactory(scheme=scheme, name="Weekend trip", quantity_total=5)
    return scheme, prize


def enter(scheme, customers):
    batch = make_code_batch(scheme, len(customers))
    codes = Code.objects.filter(batch=batch).order_by("serial")
    for code, customer in zip(codes, customers, strict=True):
        result = code_enter(scheme_or_none=scheme, text=code.value, customer=customer)
        assert result.outcome == CodeEntryOutcome.DRAW_ENTERED


def page(client, code="summer-draw", **headers):
    response = client.get(reverse("portal:campaign", args=[code]), **headers)
    return response, unescape(response.content.decode())


def test_before_the_draw_the_seed_hash_is_shown_and_the_seed_is_not(client, campaign):
    # Given a scheduled draw with entries, not run yet
    scheme, prize = campaign
    draw = make_draw(scheme, prize, winners=1, reserves=1, name="Week 1")
    enter(scheme, [CustomerFactory(), CustomerFactory()])

    # When anyone, not signed in, opens the campaign page
    response, html = page(client)

    # Then it shows the campaign, the commitment and how to check it later; not the seed
    assert response.status_code == 200
    assert "<h1>Summer draw</h1>" in html
    assert "Week 1" in html
    assert "1 winner of Weekend trip, 1 reserve" in html
    assert f"<code>{draw.seed_hash}</code>" in html
    assert f"<code>{DRAW_ALGORITHM}</code>" in html
    assert "Not drawn yet" in html
    assert "How you can check later that this draw is fair" in html
    assert draw.seed not in html
    assert "verify_draw" not in html


def test_after_the_draw_the_seed_digest_entries_and_winning_entries_are_shown(client, campaign):
    # Given a draw of 2 winners and 1 reserve run over four entries
    scheme, prize = campaign
    draw = make_draw(scheme, prize, winners=2, reserves=1)
    enter(scheme, [CustomerFactory() for _ in range(4)])
    drawn = draw_run(draw_id=draw.pk, actor="tests", now=draw.entries_close_at + timedelta(1))
    entry_ids = list(
        DrawResult.objects.filter(draw=drawn)
        .order_by("position")
        .values_list("entry_id", flat=True)
    )

    # When the campaign page is opened
    response, html = page(client)

    # Then the revealed seed, the published hash, the digest, the count, the winning and
    # reserve entries in order, and the ways to verify are on it
    assert response.status_code == 200
    assert f"Draw {drawn.pk}" in html
    assert f"<code>{drawn.seed}</code>" in html
    assert f"<code>{drawn.seed_hash}</code>" in html
    assert f"<code>{drawn.entries_digest}</code>" in html
    assert "<dt>Entries</dt><dd>4</dd>" in html
    assert f"<dt>Winning entries</dt><dd>entry {entry_ids[0]}, entry {entry_ids[1]}</dd>" in html
    assert f"<dt>Reserves, in order</dt><dd>entry {entry_ids[2]}</dd>" in html
    assert f"<code>python manage.py verify_draw {drawn.pk}</code>" in html
    assert (
        '<code>python3 -c "import hashlib; print(hashlib.sha256(bytes.fromhex('
        f"'{drawn.seed}')).hexdigest())\"</code>"
    ) in html
    assert f"the algorithm {DRAW_ALGORITHM}" in html
    assert "Not drawn yet" not in html


def test_the_page_names_no_customer_and_shows_no_contact_details(client, campaign):
    # Given a drawn draw whose entrants have names, phones and emails
    scheme, prize = campaign
    customers = [
        CustomerFactory(first_name=f"Visible{index}", last_name=f"Person{index}")
        for index in range(3)
    ]
    draw = make_draw(scheme, prize, winners=1, reserves=2)
    enter(scheme, customers)
    draw_run(draw_id=draw.pk, actor="tests", now=draw.entries_close_at + timedelta(1))

    # When the campaign page is opened
    response, html = page(client)

    # Then nothing identifies an entrant: no name, phone, email, customer id or code
    assert response.status_code == 200
    for customer in customers:
        for personal in (customer.first_name, customer.last_name, customer.phone, customer.email):
            assert personal not in html
        assert f"customer {customer.pk}" not in html.lower()
    for code in Code.objects.filter(scheme=scheme).values_list("value", flat=True):
        assert code not in html


def test_the_page_is_in_swedish_for_a_swedish_reader(client, campaign):
    scheme, prize = campaign
    make_draw(scheme, prize, winners=2)

    response, html = page(client, HTTP_ACCEPT_LANGUAGE="sv")

    assert response.status_code == 200
    assert "2 vinnare av Weekend trip" in html
    assert "Inte dragen än" in html
    assert "Så kan du senare kontrollera att dragningen är rättvis" in html


def test_an_unknown_campaign_code_is_not_found(client, campaign):
    response, _html = page(client, code="no-such-campaign")

    assert response.status_code == 404


def test_a_loyalty_scheme_has_no_campaign_page(client):
    SchemeFactory(code="bonus-club")

    response, _html = page(client, code="bonus-club")

    assert response.status_code == 404
