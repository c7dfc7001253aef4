"""The client campaign dashboard's page, its htmx fragment and its JSON API end to end: a
channel partner's numbers are those of their rows only and no filter or id reaches another
partner's or client's campaign; a client manager sees only their client's campaigns; the
API answers exactly what the page shows."""

import pytest
from django.db import connection
from django.urls import reverse

from claims.models import Claim
from crm.roles import Role
from tests.claims.conftest import private_storage  # noqa: F401
from tests.crm.factories import staff_user
from tests.dashboards.campaign_data import (
    EXPECTED_BUDGET_1,
    EXPECTED_BUDGET_1_WHOLE,
    EXPECTED_FUNNEL_1,
    EXPECTED_PRIZES_1,
    EXPECTED_RATES_1,
    EXPECTED_REGIONS_1,
    build_campaigns,
    claim_through_batch_of,
    partner_user,
)
from tests.dashboards.conftest import client_manager_of
from tests.dashboards.test_board import BoardTables

pytestmark = pytest.mark.django_db

SECTIONS = [
    "dashboards-api:campaign-funnel",
    "dashboards-api:campaign-days",
    "dashboards-api:campaign-backlog",
    "dashboards-api:campaign-rejection-reasons",
    "dashboards-api:campaign-prizes",
    "dashboards-api:campaign-channel-partners",
    "dashboards-api:campaign-regions",
    "dashboards-api:campaign-budget",
]


def page(campaign) -> str:
    return reverse("dashboards:campaign", args=[campaign.pk])


def fragment(campaign) -> str:
    return reverse("dashboards:campaign-fragment", args=[campaign.pk])


def api(campaign, name: str = "dashboards-api:campaign") -> str:
    return reverse(name, args=[campaign.pk])


@pytest.fixture
def campaigns(private_storage):  # noqa: F811
    return build_campaigns()


def funnel(body) -> dict[str, int]:
    return {step["key"]: step["count"] for step in body["funnel"]}


def every_address(campaign) -> list[str]:
    return [page(campaign), fragment(campaign), api(campaign)] + [
        api(campaign, name) for name in SECTIONS
    ]


# ---------------------------------------------------------------- a channel partner


def test_a_channel_partner_sees_the_hand_computed_figures_of_their_rows(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    response = client.get(api(campaigns.campaign_1))

    assert response.status_code == 200
    body = response.json()
    assert funnel(body) == EXPECTED_FUNNEL_1
    assert {step["key"]: step["rate"] for step in body["funnel"]} == EXPECTED_RATES_1
    assert body["filters"]["channel_partner"] == campaigns.partner_1.pk
    assert sum(day["claims"] for day in body["days"]) == 4
    assert len(body["days"]) == 30
    assert body["backlog_total"] == 1
    assert body["backlog"][0] == {
        "bucket": body["backlog"][0]["bucket"],
        "label": body["backlog"][0]["label"],
        "count": 1,
    }
    assert body["time_to_decision"]["decisions"] == 3  # two approvals, one rejection
    assert body["rejection_reasons"] == [
        {
            "code": "before-campaign",
            "text": "The receipt is from before the campaign started.",
            "count": 1,
        }
    ]
    assert [
        {key: prize[key] for key in EXPECTED_PRIZES_1[0]} for prize in body["prizes"]
    ] == EXPECTED_PRIZES_1
    assert body["channel_partners"] == [
        {
            "channel_partner_id": campaigns.partner_1.pk,
            "name": "North region",
            "submitted": 4,
            "in_review": 1,
            "approved": 2,
            "rejected": 1,
        }
    ]
    assert body["regions"] == EXPECTED_REGIONS_1
    assert body["budget"] == EXPECTED_BUDGET_1


def test_the_prize_filter_narrows_to_that_prizes_rows(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    body = client.get(api(campaigns.campaign_1), {"prize": campaigns.prize_y.pk}).json()

    assert funnel(body) == {
        "codes_issued": 2,
        "codes_entered": 2,
        "submitted": 2,
        "in_review": 0,
        "approved": 1,
        "rejected": 1,
        "dispatched": 1,
        "delivered": 1,
    }
    assert [prize["name"] for prize in body["prizes"]] == ["Speaker"]


def test_a_channel_partner_cannot_open_another_partners_or_clients_campaign(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    for campaign in (campaigns.campaign_2, campaigns.campaign_b):
        for address in every_address(campaign):
            assert client.get(address).status_code == 404, address
    assert (
        client.get(
            page(campaigns.campaign_1).replace(str(campaigns.campaign_1.pk), "999999")
        ).status_code
        == 404
    )
    switch = client.get(reverse("dashboards:campaigns"), {"campaign": campaigns.campaign_2.pk})
    assert switch.status_code == 404


@pytest.mark.parametrize(
    ("attribute", "field"),
    [
        ("partner_2", "channel_partner"),
        ("partner_b", "channel_partner"),
        ("prize_2", "prize"),
        ("prize_b", "prize"),
    ],
)
def test_a_channel_partners_filters_cannot_name_another_partners_rows(
    sign_in, campaigns, attribute, field
):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))
    query = {field: getattr(campaigns, attribute).pk}

    responses = [client.get(address, query) for address in every_address(campaigns.campaign_1)]

    assert {response.status_code for response in responses} == {400}
    assert responses[2].json()["errors"][field] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert "chart-card" not in responses[0].text
    assert "South region" not in responses[0].text
    assert "Winter jacket" not in responses[0].text


def test_a_channel_partners_partner_filter_is_locked_to_their_own(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    response = client.get(page(campaigns.campaign_1))

    select = response.text.split('name="channel_partner"', 1)[1].split("</select>", 1)[0]
    assert "North region" in select
    assert "South region" not in select
    assert "All channel partners" not in select
    home = client.get(reverse("dashboards:campaigns"))
    assert "Summer scratch card" in home.text
    assert "Winter scratch card" not in home.text
    assert "B&#x27;s scratch card" not in home.text


def test_a_partner_keeps_their_claims_when_the_campaign_names_no_partner(sign_in, campaigns):
    campaigns.campaign_1.review_settings.delete()
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    body = client.get(api(campaigns.campaign_1)).json()

    # The claims keep the partner they were created with; the codes never entered and the
    # prizes' stock were the campaign's, which now runs through nobody.
    assert funnel(body)["submitted"] == 4
    assert funnel(body)["codes_issued"] == 0
    assert body["prizes"] == []
    assert body["regions"] == EXPECTED_REGIONS_1
    assert client.get(api(campaigns.campaign_2)).status_code == 404


# ---------------------------------------------------------------- counties and the budget


def test_the_county_filter_narrows_every_figure(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    body = client.get(api(campaigns.campaign_1), {"region": "SE-AB"}).json()

    assert body["filters"]["region"] == "SE-AB"
    # The two Stockholm claims, both for X: one waiting, one approved.
    assert funnel(body) == {
        "codes_issued": 2,
        "codes_entered": 2,
        "submitted": 2,
        "in_review": 1,
        "approved": 1,
        "rejected": 0,
        "dispatched": 0,
        "delivered": 0,
    }
    assert body["regions"] == [EXPECTED_REGIONS_1[0]]
    assert body["budget"] == {**EXPECTED_BUDGET_1, "spent_minor": 1_500, "committed_minor": 1_500}
    assert body["channel_partners"][0]["submitted"] == 2


def test_what_is_left_of_the_cap_counts_the_whole_campaign_whatever_the_filters(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    whole = client.get(api(campaigns.campaign_1)).json()
    stockholm = client.get(api(campaigns.campaign_1), {"region": "SE-AB"}).json()
    long_ago = client.get(
        api(campaigns.campaign_1), {"date_from": "2020-01-01", "date_to": "2020-01-31"}
    ).json()

    assert whole["budget"] == EXPECTED_BUDGET_1_WHOLE
    assert stockholm["budget"] == {
        **EXPECTED_BUDGET_1_WHOLE,
        "spent_minor": 1_500,
        "committed_minor": 1_500,
    }
    assert long_ago["budget"] == {
        **EXPECTED_BUDGET_1_WHOLE,
        "spent_minor": 0,
        "committed_minor": 0,
    }


@pytest.mark.parametrize("region", ["SE-XX", "Stockholm", "se-ab"])
def test_a_county_that_is_not_one_is_refused(sign_in, campaigns, region):
    client = sign_in(client_manager_of(campaigns.client_a))

    responses = [
        client.get(address, {"region": region}) for address in every_address(campaigns.campaign_1)
    ]

    assert {response.status_code for response in responses} == {400}
    assert responses[2].json()["errors"] == {
        "region": [f"Select a valid choice. {region} is not one of the available choices."]
    }


def test_the_budget_without_a_cap_reads_no_cap(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    body = client.get(api(campaigns.campaign_2, "dashboards-api:campaign-budget")).json()
    page_text = client.get(page(campaigns.campaign_2)).text

    assert body["budget"] == {
        "unit": {"label": "points", "exponent": 0},
        "cap_minor": None,
        "spent_minor": 0,
        "committed_minor": 0,  # the winter jacket's value is 0
        "total_spent_minor": 0,
        "left_minor": None,
        "spent_share": None,
    }
    assert 'data-testid="budget-no-cap">No budget cap set<' in page_text
    assert "<progress" not in page_text


def test_the_budget_shows_its_figures_in_words_beside_the_bar(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    response = client.get(page(campaigns.campaign_1))

    figures = BoardTables(response.text).figures
    assert " ".join(figures["budget-summary"].split()) == (
        "Spent 5,500 points of 10,000 points (55.0 %) 55.0 %"
    )
    assert '<progress id="budget-progress" max="100" value="55">' in response.text
    assert BoardTables(response.text).tables["table-budget"] == [
        ("Cap", [10_000]),
        ("Spent", [5_500]),
        ("Committed", [1_500]),
        ("Spent since the campaign began", [5_500]),
        ("Left", [4_500]),
    ]


def test_a_partner_sees_its_own_budget_use_but_not_what_the_campaign_has_left(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    response = client.get(page(campaigns.campaign_1))

    assert "<progress" not in response.text
    assert BoardTables(response.text).tables["table-budget"] == [
        ("Cap", [10_000]),
        ("Spent", [5_500]),
        ("Committed", [1_500]),
        ("Spent since the campaign began", []),
        ("Left", []),
    ]


# ---------------------------------------------------------------- two partners, one campaign


def test_each_claim_belongs_to_its_code_batchs_partner_else_the_campaigns(campaigns):
    south = claim_through_batch_of(campaigns.partner_2, prize=campaigns.prize_x, region="SE-O")

    assert south.channel_partner == campaigns.partner_2
    assert set(
        Claim.objects.filter(scheme=campaigns.campaign_1)
        .exclude(pk=south.pk)
        .values_list("channel_partner", flat=True)
    ) == {campaigns.partner_1.pk}


def test_two_partners_claims_in_one_campaign_are_kept_apart(sign_in, campaigns):
    claim_through_batch_of(campaigns.partner_2, prize=campaigns.prize_x, region="SE-O")
    north = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))
    north_body = north.get(api(campaigns.campaign_1)).json()

    assert funnel(north_body) == EXPECTED_FUNNEL_1
    assert north_body["regions"] == EXPECTED_REGIONS_1
    assert north_body["budget"] == EXPECTED_BUDGET_1
    assert north_body["backlog_total"] == 1
    assert [row["name"] for row in north_body["channel_partners"]] == ["North region"]

    south = sign_in(partner_user(campaigns.client_a, campaigns.partner_2))
    south_body = south.get(api(campaigns.campaign_1)).json()
    assert funnel(south_body) == {
        "codes_issued": 1,
        "codes_entered": 1,
        "submitted": 1,
        "in_review": 1,
        "approved": 0,
        "rejected": 0,
        "dispatched": 0,
        "delivered": 0,
    }
    assert south_body["channel_partners"] == [
        {
            "channel_partner_id": campaigns.partner_2.pk,
            "name": "South region",
            "submitted": 1,
            "in_review": 1,
            "approved": 0,
            "rejected": 0,
        }
    ]
    assert south_body["regions"] == [
        {
            "region": "SE-O",
            "name": "Västra Götaland County",
            "submitted": 1,
            "in_review": 1,
            "approved": 0,
            "rejected": 0,
        }
    ]
    assert south_body["budget"]["spent_minor"] == 0
    assert south_body["budget"]["committed_minor"] == 1_500
    assert south_body["backlog_total"] == 1
    assert south_body["time_to_decision"]["decisions"] == 0
    assert south_body["rejection_reasons"] == []
    # The stock is the campaign's (run through partner 1): not partner 2's to see.
    assert south_body["prizes"] == []


def test_a_partner_cannot_reach_the_other_partners_claims_by_filter(sign_in, campaigns):
    claim_through_batch_of(campaigns.partner_2, prize=campaigns.prize_x, region="SE-O")
    south = sign_in(partner_user(campaigns.client_a, campaigns.partner_2))

    stockholm = south.get(api(campaigns.campaign_1), {"region": "SE-AB"}).json()
    assert set(funnel(stockholm).values()) == {0}
    assert stockholm["regions"] == []
    assert stockholm["budget"]["spent_minor"] == 0
    for address in every_address(campaigns.campaign_1):
        refused = south.get(address, {"channel_partner": campaigns.partner_1.pk})
        assert refused.status_code == 400, address
    assert "North region" not in south.get(page(campaigns.campaign_1)).text
    assert "Stockholm County</th>" not in south.get(page(campaigns.campaign_1)).text


def test_a_client_manager_sees_both_partners_of_the_campaign(sign_in, campaigns):
    claim_through_batch_of(campaigns.partner_2, prize=campaigns.prize_x, region="SE-O")
    client = sign_in(client_manager_of(campaigns.client_a))

    body = client.get(api(campaigns.campaign_1)).json()
    south_only = client.get(api(campaigns.campaign_1), {"channel_partner": campaigns.partner_2.pk})

    assert [(row["name"], row["submitted"]) for row in body["channel_partners"]] == [
        ("North region", 4),
        ("South region", 1),
    ]
    assert funnel(body)["submitted"] == 5
    assert funnel(body)["codes_issued"] == 8
    assert body["budget"]["committed_minor"] == 3_000
    assert funnel(south_only.json())["submitted"] == 1
    assert south_only.json()["backlog_total"] == 1


# ---------------------------------------------------------------- a client manager


def test_a_client_manager_sees_only_their_clients_campaigns(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    listing = client.get(reverse("dashboards:campaigns"))
    assert "Summer scratch card" in listing.text
    assert "Winter scratch card" in listing.text
    assert "B&#x27;s scratch card" not in listing.text
    for address in every_address(campaigns.campaign_b):
        assert client.get(address).status_code == 404, address
    assert funnel(client.get(api(campaigns.campaign_1)).json()) == EXPECTED_FUNNEL_1
    assert funnel(client.get(api(campaigns.campaign_2)).json())["submitted"] == 1


def test_a_client_managers_partner_filter(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    own = client.get(api(campaigns.campaign_1), {"channel_partner": campaigns.partner_1.pk})
    other = client.get(api(campaigns.campaign_1), {"channel_partner": campaigns.partner_2.pk})
    foreign = client.get(api(campaigns.campaign_1), {"channel_partner": campaigns.partner_b.pk})

    assert funnel(own.json()) == EXPECTED_FUNNEL_1
    # Campaign 1 runs through partner 1: partner 2 has no rows of it.
    assert set(funnel(other.json()).values()) == {0}
    assert other.json()["backlog_total"] == 0
    assert other.json()["prizes"] == []
    assert foreign.status_code == 400


# ---------------------------------------------------------------- who may open it


def test_signed_out_and_other_roles_are_refused(client, sign_in, campaigns):
    assert client.get(page(campaigns.campaign_1)).status_code == 302
    assert client.get(api(campaigns.campaign_1)).status_code == 403
    helpdesk = sign_in(staff_user(Role.HELPDESK))
    assert helpdesk.get(page(campaigns.campaign_1)).status_code == 403
    assert helpdesk.get(api(campaigns.campaign_1)).status_code == 403


def test_an_operator_sees_every_campaign(sign_in, operator, campaigns):
    client = sign_in(operator)

    assert funnel(client.get(api(campaigns.campaign_b)).json())["submitted"] == 1


def test_the_dashboards_home_links_the_campaign_dashboards(sign_in, campaigns):
    for user in (
        partner_user(campaigns.client_a, campaigns.partner_1),
        client_manager_of(campaigns.client_a),
    ):
        home = sign_in(user).get(reverse("dashboards:home"))
        assert home.status_code == 200
        assert f'href="{reverse("dashboards:campaigns")}"' in home.text


def test_the_campaign_switch_keeps_the_dates_and_drops_the_prize(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))

    response = client.get(
        reverse("dashboards:campaigns"),
        {
            "campaign": campaigns.campaign_2.pk,
            "date_from": "2026-01-01",
            "prize": campaigns.prize_x.pk,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{page(campaigns.campaign_2)}?date_from=2026-01-01"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "__all__"),
        ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, "__all__"),
    ],
)
def test_dates_that_make_no_sense_are_refused(sign_in, campaigns, query, field):
    client = sign_in(client_manager_of(campaigns.client_a))

    response = client.get(api(campaigns.campaign_1), query)

    assert response.status_code == 400
    assert field in response.json()["errors"]


# ---------------------------------------------------------------- page, poll and API agree


def test_the_api_returns_the_numbers_the_page_shows(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    response = client.get(page(campaigns.campaign_1))
    body = client.get(api(campaigns.campaign_1)).json()

    assert response.status_code == 200
    tables = BoardTables(response.text).tables
    assert [values for _label, values in tables["table-funnel"]] == [
        [step["count"]] for step in body["funnel"]
    ]
    assert [values for _label, values in tables["table-days"]] == [
        [day["claims"]] for day in body["days"]
    ]
    assert [values for _label, values in tables["table-backlog"]] == [
        [bucket["count"]] for bucket in body["backlog"]
    ]
    assert tables["table-rejections"] == [
        (reason["text"], [reason["count"]]) for reason in body["rejection_reasons"]
    ]
    assert tables["table-prizes"] == [
        (
            prize["name"],
            [
                prize["quantity_awarded"],
                prize["quantity_left"],
                prize["quantity_total"],
                prize["claims"],
            ],
        )
        for prize in body["prizes"]
    ]
    assert tables["table-regions"] == [
        (
            region["name"],
            [region["in_review"], region["approved"], region["rejected"], region["submitted"]],
        )
        for region in body["regions"]
    ]
    budget = body["budget"]
    assert tables["table-budget"] == [
        ("Cap", [budget["cap_minor"]]),
        ("Spent", [budget["spent_minor"]]),
        ("Committed", [budget["committed_minor"]]),
        ("Spent since the campaign began", []),  # None for a partner: no data-value
        ("Left", []),
    ]
    assert (budget["total_spent_minor"], budget["left_minor"]) == (None, None)
    assert tables["table-partners"] == [
        (
            partner["name"],
            [partner["in_review"], partner["approved"], partner["rejected"], partner["submitted"]],
        )
        for partner in body["channel_partners"]
    ]
    figures = BoardTables(response.text).figures
    assert figures["kpi-submitted"].strip() == "4"
    assert figures["kpi-backlog"].strip() == str(body["backlog_total"])
    assert "Figures computed at" in figures["computed-at"]


def test_each_api_section_matches_the_whole_dashboard(sign_in, campaigns):
    client = sign_in(client_manager_of(campaigns.client_a))
    whole = client.get(api(campaigns.campaign_1)).json()

    for name in SECTIONS:
        part = client.get(api(campaigns.campaign_1, name)).json()
        for key, value in part.items():
            if key != "computed_at":
                assert whole[key] == value, (name, key)


def test_the_fragment_is_the_dashboard_alone_and_polls(sign_in, campaigns):
    client = sign_in(partner_user(campaigns.client_a, campaigns.partner_1))

    response = client.get(fragment(campaigns.campaign_1), headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="campaign-dashboard"')
    assert 'hx-trigger="every 10s"' in response.text
    assert "<html" not in response.text
    assert "Figures computed at" in response.text


def test_the_openapi_schema_documents_the_campaign_api(client, db):
    schema = client.get(reverse("schema"), {"format": "json"}).json()

    for suffix in (
        "",
        "funnel/",
        "days/",
        "backlog/",
        "rejection-reasons/",
        "prizes/",
        "channel-partners/",
        "regions/",
        "budget/",
    ):
        operation = schema["paths"][f"/api/v1/dashboards/campaigns/{{campaign_id}}/{suffix}"]["get"]
        assert {parameter["name"] for parameter in operation["parameters"]} >= {
            "campaign_id",
            "date_from",
            "date_to",
            "prize",
            "channel_partner",
            "region",
        }
        assert set(operation["responses"]) == {"200", "400", "403", "404"}
    assert "FunnelStep" in schema["components"]["schemas"]
    assert {"RegionFigures", "Budget"} <= set(schema["components"]["schemas"])


def test_the_claims_figures_read_through_the_dashboards_index(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname IN "
            "('dashboards_claim_scheme_submitted', 'dashboards_code_scheme_entered')"
        )
        assert {row[0] for row in cursor.fetchall()} == {
            "dashboards_claim_scheme_submitted",
            "dashboards_code_scheme_entered",
        }
