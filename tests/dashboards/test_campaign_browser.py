"""A client manager signs in (password and TOTP), opens a client campaign dashboard in a real
browser, sees its charts drawn from their tables (and the county and budget sections),
filters by channel partner and sees that partner's numbers only, and opens table views.
Screenshots at a phone's and a desktop's width go to
test-artifacts/dashboards-campaign-*.png."""

import pytest
from django.test import override_settings

from tests.claims.conftest import private_storage  # noqa: F401
from tests.crm.factories import give_totp_device
from tests.dashboards.browser import (
    DESKTOP,
    PHONE,
    charts_drawn,
    collect_problems,
    sign_in_to_dashboards,
    wait_until,
)
from tests.dashboards.campaign_data import build_campaigns, claim_through_batch_of
from tests.dashboards.conftest import client_manager_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVERY_CHART_DRAWN = (
    "document.querySelectorAll('.chart-card canvas').length > 0 && "
    "Array.from(document.querySelectorAll('.chart-card canvas'))"
    ".every(canvas => window.Chart && window.Chart.getChart(canvas))"
)


def kpis(page) -> dict[str, str]:
    return {
        name: page.get_by_test_id(f"kpi-{name}").inner_text()
        for name in ("submitted", "backlog", "median")
    }


def table_rows(page, table_id: str) -> list[list[str]]:
    """The body rows of a chart's table view, cell texts in order (read from the DOM, so a
    closed table view reads too)."""
    return page.evaluate(
        "id => Array.from(document.querySelectorAll(`#${id} tbody tr`))"
        ".map(row => Array.from(row.cells).map(cell => cell.textContent.trim()))",
        table_id,
    )


def budget(page) -> list[list[str]]:
    return table_rows(page, "table-budget")


def show_partner(page, live_server, campaign, partner_label: str) -> None:
    page.get_by_label("Channel partner", exact=True).select_option(label=partner_label)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{live_server.url}/dashboards/campaigns/{campaign.pk}/?**")
    wait_until(page, EVERY_CHART_DRAWN)


@override_settings(STAFF_OTP_REQUIRED=True)
def test_a_client_manager_filters_a_campaign_by_partner_and_sees_the_charts(
    live_server,
    page,
    screenshot,
    private_storage,  # noqa: F811
):
    # Given client A's campaigns (build_campaigns: campaign 1 "Summer scratch card" runs
    # through North region, with 4 claims today: 1 waiting, 2 approved of which 1
    # delivered, 1 rejected; a prize budget cap of 10,000), one more claim of campaign 1
    # from a code batch South region distributes (waiting, Vastra Gotaland), and a client
    # manager of A with an authenticator app
    data = build_campaigns()
    claim_through_batch_of(data.partner_2, prize=data.prize_x, region="SE-O")
    manager = client_manager_of(data.client_a)
    device = give_totp_device(manager)
    problems = collect_problems(page)

    # When the manager opens the dashboards and signs in with password and code
    sign_in_to_dashboards(page, live_server, manager, device)

    # and opens campaign 1's dashboard from the list of their client's campaigns
    page.get_by_role("link", name="Campaign dashboards").click()
    page.wait_for_url(f"{live_server.url}/dashboards/campaigns/")
    assert page.locator(".cards a strong").all_inner_texts() == [
        "Summer scratch card",
        "Winter scratch card",
    ]
    page.get_by_role("link", name="Summer scratch card").click()
    page.wait_for_url(f"{live_server.url}/dashboards/campaigns/{data.campaign_1.pk}/")

    # Then every chart is drawn from its table, with both partners' claims
    wait_until(page, EVERY_CHART_DRAWN)
    # funnel, days, backlog, rejections, prizes, partners, counties (the budget is a bar)
    assert charts_drawn(page) == 7
    assert page.get_by_role("heading", level=1).inner_text() == "Summer scratch card"
    assert kpis(page) == {"submitted": "5", "backlog": "2", "median": "0.0 h"}
    assert "Figures computed at" in page.get_by_test_id("computed-at").inner_text()
    assert table_rows(page, "table-partners") == [
        ["North region", "1", "2", "1", "4"],
        ["South region", "1", "0", "0", "1"],
    ]
    assert table_rows(page, "table-regions") == [
        ["Stockholm County", "1", "1", "0", "2"],
        ["Skåne County", "0", "0", "1", "1"],
        ["Västra Götaland County", "1", "0", "0", "1"],
        ["No county given", "0", "1", "0", "1"],
    ]
    # Spent: approved Headphones (1,500) and delivered Speaker (4,000); committed: the two
    # waiting Headphones claims
    assert budget(page) == [
        ["Cap", "10,000 points"],
        ["Spent", "5,500 points"],
        ["Committed", "3,000 points"],
        ["Spent since the campaign began", "5,500 points"],
        ["Left", "4,500 points"],
    ]
    assert page.get_by_test_id("budget-summary").inner_text() == (
        "Spent 5,500 points of 10,000 points (55.0 %)"
    )
    # Nothing overflows the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot("dashboards-campaign-phone")

    # When the manager filters by South region, every number is that partner's only
    show_partner(page, live_server, data.campaign_1, "South region (Client A)")
    assert kpis(page) == {"submitted": "1", "backlog": "1", "median": "\u2014"}
    assert charts_drawn(page) == 5  # no rejections, no prizes of South's partner
    assert table_rows(page, "table-partners") == [["South region", "1", "0", "0", "1"]]
    assert table_rows(page, "table-regions") == [["Västra Götaland County", "1", "0", "0", "1"]]
    assert budget(page) == [
        ["Cap", "10,000 points"],
        ["Spent", "0 points"],
        ["Committed", "1,500 points"],
        ["Spent since the campaign began", "5,500 points"],
        ["Left", "4,500 points"],
    ]
    assert page.locator("#chart-rejections .empty-note").inner_text() == (
        "No claim submitted in the range was rejected."
    )
    assert (
        page.get_by_label("Channel partner", exact=True).evaluate(
            "select => select.selectedOptions[0].textContent"
        )
        == "South region (Client A)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot("dashboards-campaign-south-region-phone")

    # When the manager filters by North region, the numbers are North's
    show_partner(page, live_server, data.campaign_1, "North region (Client A)")
    assert kpis(page) == {"submitted": "4", "backlog": "1", "median": "0.0 h"}
    assert charts_drawn(page) == 7
    assert table_rows(page, "table-partners") == [["North region", "1", "2", "1", "4"]]
    assert table_rows(page, "table-regions") == [
        ["Stockholm County", "1", "1", "0", "2"],
        ["Skåne County", "0", "0", "1", "1"],
        ["No county given", "0", "1", "0", "1"],
    ]
    assert budget(page) == [
        ["Cap", "10,000 points"],
        ["Spent", "5,500 points"],
        ["Committed", "1,500 points"],
        ["Spent since the campaign began", "5,500 points"],
        ["Left", "4,500 points"],
    ]

    # and opens the funnel's table view: it reads the chart's figures
    page.locator("#table-funnel summary").click()
    assert table_rows(page, "table-funnel") == [
        ["Codes issued", "7", "\u2014"],
        ["Codes entered", "4", "57.1 %"],
        ["Claims submitted", "4", "100.0 %"],
        ["In review", "1", "25.0 %"],
        ["Approved", "2", "50.0 %"],
        ["Rejected", "1", "25.0 %"],
        ["Dispatched", "1", "50.0 %"],
        ["Delivered", "1", "100.0 %"],
    ]
    # Stock, won and left are the campaign's, now (South's Headphones too); claims are North's
    page.locator("#table-prizes summary").click()
    assert table_rows(page, "table-prizes") == [
        ["Headphones", "3", "7", "10", "2"],
        ["Speaker", "1", "4", "5", "2"],
    ]
    page.locator("#table-regions summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot("dashboards-campaign-table-phone")
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(300)  # Chart.js redraws on resize
    assert charts_drawn(page) == 7
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshot("dashboards-campaign-desktop")
    assert problems == []
