"""An operator signs in (password and TOTP), opens the loyalty operator board in a real
browser, sees every chart drawn from its table, and watches a figure refresh by itself.
Screenshots at a phone's and a desktop's width go to test-artifacts/."""

import pytest
import time_machine
from django.test import override_settings

from dashboards.services import rollups_refresh
from tests.crm.factories import STAFF_PASSWORD, give_totp_device, totp_token
from tests.dashboards.conftest import at, build_ledger
from tests.rewards.conftest import purchase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """Polls ``expression`` in the page (page.wait_for_function would need 'unsafe-eval',
    which the page's Content Security Policy rightly refuses)."""
    waited = 0
    while not page.evaluate(expression):
        if waited >= timeout_ms:
            raise AssertionError(f"Still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(200)
        waited += 200


def charts_drawn(page) -> int:
    return page.evaluate(
        "Array.from(document.querySelectorAll('.chart-card canvas'))"
        ".filter(canvas => window.Chart.getChart(canvas)).length"
    )


@override_settings(STAFF_OTP_REQUIRED=True)
def test_an_operator_opens_the_board_and_sees_the_charts(live_server, page, screenshot, operator):
    # Given a small ledger whose rollups are computed, and an operator with an authenticator
    ledger = build_ledger(operator)
    rollups_refresh()
    device = give_totp_device(operator)
    problems: list[str] = []

    def on_console(message) -> None:
        # The browser asks for /favicon.ico on its own; the site has none (not ours).
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(f"{message.text} ({message.location['url']})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    # When the operator opens the dashboards and signs in with password and code
    page.goto(f"{live_server.url}/dashboards/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Username").fill(operator.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code from your authenticator app").fill(totp_token(device))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/dashboards/")

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
