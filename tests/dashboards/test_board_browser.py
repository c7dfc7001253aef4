"""An operator signs in (password and TOTP), opens the loyalty operator board in a real
browser, sees every chart drawn from its table, and watches a figure refresh by itself.
Screenshots at a phone's and a desktop's width go to test-artifacts/."""

import pytest
import time_machine
from django.test import override_settings

from dashboards.services import rollups_refresh
from tests.crm.factories import give_totp_device
from tests.dashboards.browser import (
    DESKTOP,
    PHONE,
    charts_drawn,
    collect_problems,
    sign_in_to_dashboards,
    wait_until,
)
from tests.dashboards.conftest import at, build_ledger
from tests.rewards.conftest import purchase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@override_settings(STAFF_OTP_REQUIRED=True)
def test_an_operator_opens_the_board_and_sees_the_charts(live_server, page, screenshot, operator):
    # Given a small ledger whose rollups are computed, and an operator with an authenticator
    ledger = build_ledger(operator)
    rollups_refresh()
    device = give_totp_device(operator)
    problems = collect_problems(page)

    # When the operator opens the dashboards and signs in with password and code
    sign_in_to_dashboards(page, live_server, operator, device)

    # and opens the loyalty board for scheme A, August to October 2026
    page.get_by_role("link", name="Loyalty operator board").click()
    page.get_by_label("Scheme", exact=True).select_option(label=ledger.scheme_a.name)
    page.get_by_label("From month").fill("2026-08")
    page.get_by_label("To month").fill("2026-10")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/dashboards/loyalty/?**")

    # Then every chart is drawn, and the key figures are the hand-computed ones
    wait_until(
        page,
        "document.querySelectorAll('.chart-card canvas').length > 0 && "
        "Array.from(document.querySelectorAll('.chart-card canvas'))"
        ".every(canvas => window.Chart && window.Chart.getChart(canvas))",
    )
    assert charts_drawn(page) == 9
    assert page.get_by_test_id("kpi-participants").inner_text() == "2"
    assert page.get_by_test_id("kpi-liability").inner_text() == "85 points"
    assert page.get_by_test_id("kpi-not-spent").inner_text() == "165 points"
    assert "Figures computed at" in page.get_by_test_id("computed-at").inner_text()
    assert page.get_by_role("heading", name="Top 5 offers, October 2026").is_visible()
    # Nothing overflows the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot("dashboards-loyalty-board-phone")

    # When the operator opens a chart's table view, it reads the chart's figures
    page.locator("#table-flows summary").click()
    flows = page.locator("#table-flows table")
    assert flows.get_by_role("row").nth(2).inner_text().split("\t")[:3] == [
        "Sep 2026",
        "1",
        "25 points",
    ]
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(300)  # Chart.js redraws on resize
    screenshot("dashboards-loyalty-board-desktop")

    # When more is awarded and the rollups run, the board refreshes by itself (htmx poll)
    with time_machine.travel(at("2026-10-25"), tick=False):
        purchase(ledger.participants["P4"], ledger.merchants["M1"], 500)  # 50 + 5
    rollups_refresh()
    wait_until(
        page,
        "document.querySelector('[data-testid=kpi-liability]').textContent.trim() === '140 points'",
        timeout_ms=15_000,
    )
    # the open table view stays open and the charts are drawn again
    assert page.locator("#table-flows").get_attribute("open") is not None
    assert charts_drawn(page) == 9
    page.set_viewport_size(PHONE)
    screenshot("dashboards-loyalty-board-refreshed-phone")
    assert problems == []
