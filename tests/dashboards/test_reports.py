"""The four reports' rows against rows worked out by hand, for an operator, a client manager
and a channel partner; a partner never reaches another partner's rows through a filter."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from claims.models import Claim, ClaimStatus, ClaimTransition, Shipment
from crm.roles import Role
from dashboards.forms_reports import ExportRequestForm
from dashboards.models import Export
from dashboards.reports import CLAIM_COLUMNS, REPORTS, ReportFilters
from dashboards.scoping import scope_for_user
from rewards.models import SchemeMerchant
from rewards.services.settlement import settlement_period_settle
from tests.claims.conftest import private_storage  # noqa: F401
from tests.crm.factories import staff_user
from tests.dashboards.campaign_data import build_campaigns, partner_user
from tests.dashboards.conftest import at, client_manager_of
from tests.rewards.conftest import purchase
from tests.rewards.factories import OfferFactory

pytestmark = pytest.mark.django_db

REPORT_AT = at("2026-10-21")
# August 2026 in Stockholm.
AUGUST_STARTS = datetime(2026, 7, 31, 22, 0, tzinfo=UTC)
AUGUST_ENDS = datetime(2026, 8, 31, 22, 0, tzinfo=UTC)


def rows(user, report: str, filters: ReportFilters | None = None) -> list[tuple]:
    scope = scope_for_user(user)
    return list(REPORTS[report].rows(scope, filters or ReportFilters(), at=REPORT_AT))


def count(user, report: str, filters: ReportFilters | None = None) -> int:
    return REPORTS[report].count(scope_for_user(user), filters or ReportFilters())


def name(participant) -> str:
    return f"{participant.customer.first_name} {participant.customer.last_name}"


@pytest.fixture
def loyalty(ledger):
    """build_ledger, and on 15 October P4 buys 100 at M2 under a new offer O3 (7 points,
    available after 14 days, expiring after 60): O1 10 (expires 14 Nov), O2 5, O3 7
    pending until 29 Oct."""
    with time_machine.travel(at("2026-10-15"), tick=False):
        OfferFactory(
            scheme=ledger.scheme_a,
            name="Seven later",
            rules={
                "award": {"type": "fixed", "amount_minor": 7},
                "award_validity": {"available_after_days": 14, "expires_after_days": 60},
            },
        )
        purchase(ledger.participants["P4"], ledger.merchants["M2"], 100)
    return ledger


def expected_balances(ledger) -> list[tuple]:
    """At 21 October (Stockholm days):

    P1 20: O2 5 + O2 5 + O1 10 expiring 5 Nov; P2 5 (terminated); P3 25 of which O1 20
    expired on 30 Sep (not yet run) so nothing left to expire; P4 35 + 22 = 57, O3's 7
    pending, O1 30 expiring 4 Nov. Scheme B: Q1 500, never expiring.
    """
    people = ledger.participants
    code = ledger.scheme_a.code
    return [
        (people["P1"].pk, "", name(people["P1"]), code, "points", "effective", 20, 0,
         date(2026, 11, 5), 10),
        (people["P2"].pk, "", name(people["P2"]), code, "points", "terminated", 5, 0, None, 0),
        (people["P3"].pk, "", name(people["P3"]), code, "points", "terminated", 25, 0, None, 0),
        (people["P4"].pk, "", name(people["P4"]), code, "points", "effective", 57, 7,
         date(2026, 11, 4), 30),
    ]  # fmt: skip


def by_scheme_then_id(ledger, expected: list[tuple], scheme_of) -> list[tuple]:
    return sorted(expected, key=lambda row: (scheme_of(row), row[0]))


def test_the_balance_report_for_a_client_manager_is_their_clients_participants(loyalty):
    manager = client_manager_of(loyalty.client_a)

    assert rows(manager, Export.Report.PARTICIPANT_BALANCES) == expected_balances(loyalty)
    assert count(manager, Export.Report.PARTICIPANT_BALANCES) == 4


def test_the_balance_report_for_an_operator_holds_every_client(loyalty, operator):
    q1 = loyalty.participants["Q1"]
    expected = [
        *expected_balances(loyalty),
        (q1.pk, "", name(q1), loyalty.scheme_b.code, "points", "effective", 500, 0, None, 0),
    ]
    schemes = {row[0]: row[3] for row in expected}

    assert rows(operator, Export.Report.PARTICIPANT_BALANCES) == sorted(
        expected, key=lambda row: (schemes[row[0]], row[0])
    )


def test_loyalty_reports_hold_nothing_for_a_channel_partner(loyalty):
    partner = staff_user(Role.CHANNEL_PARTNER)
    partner.staff_profile.client = loyalty.client_a
    partner.staff_profile.save(update_fields=["client"])

    for report in (
        Export.Report.PARTICIPANT_BALANCES,
        Export.Report.PARTICIPANTS,
        Export.Report.SETTLEMENT,
    ):
        assert rows(partner, report) == []
        assert count(partner, report) == 0
        form = ExportRequestForm({"report": report, "format": "csv"}, scope=scope_for_user(partner))
        assert not form.is_valid()
        assert "report" in form.errors


def test_the_balance_report_filters_by_status(loyalty):
    manager = client_manager_of(loyalty.client_a)
    terminated = ReportFilters(status="terminated")

    assert rows(manager, Export.Report.PARTICIPANT_BALANCES, terminated) == [
        row for row in expected_balances(loyalty) if row[5] == "terminated"
    ]


def test_the_participants_report(loyalty):
    manager = client_manager_of(loyalty.client_a)
    people = loyalty.participants
    code = loyalty.scheme_a.code
    expected = [
        (people["P1"].pk, "", name(people["P1"]), code, people["P1"].sign_up_merchant.code,
         "Shop North", at("2026-08-03"), "effective", None, "", 2),
        (people["P2"].pk, "", name(people["P2"]), code, people["P2"].sign_up_merchant.code,
         "Shop South", at("2026-08-03"), "terminated", at("2026-09-15"), "fraud", 1),
        (people["P3"].pk, "", name(people["P3"]), code, None, None, at("2026-08-03"),
         "terminated", at("2026-10-20"), "inactivity", 1),
        (people["P4"].pk, "", name(people["P4"]), code, people["P4"].sign_up_merchant.code,
         "Shop North", at("2026-10-05"), "effective", None, "", 2),
    ]  # fmt: skip

    assert rows(manager, Export.Report.PARTICIPANTS) == expected
    october = ReportFilters(date_from=date(2026, 10, 1), date_to=date(2026, 10, 31))
    assert rows(manager, Export.Report.PARTICIPANTS, october) == [expected[3]]
    assert count(manager, Export.Report.PARTICIPANTS, october) == 1
    scheme_b_only = ReportFilters(scheme_id=loyalty.scheme_b.pk)
    assert rows(manager, Export.Report.PARTICIPANTS, scheme_b_only) == []


def test_a_scheme_of_another_client_is_not_a_valid_choice(loyalty):
    manager = client_manager_of(loyalty.client_a)
    form = ExportRequestForm(
        {"report": "participants", "format": "csv", "scheme": loyalty.scheme_b.pk},
        scope=scope_for_user(manager),
    )

    assert not form.is_valid()
    assert form.errors["scheme"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]


# -- settlement ---------------------------------------------------------------------------------


@pytest.fixture
def settled(loyalty):
    """August settled for both schemes. Scheme A: M1 contributes 50 % of its awards (P1's
    105), M2 25 % (P2's 45); P3's purchase at 23:30 UTC on 31 August is September's in
    Stockholm. Scheme B: MB's 500, no rule."""
    SchemeMerchant.objects.filter(merchant=loyalty.merchants["M1"]).update(
        award_contribution_basis_points=5000
    )
    SchemeMerchant.objects.filter(merchant=loyalty.merchants["M2"]).update(
        award_contribution_basis_points=2500
    )
    with time_machine.travel(at("2026-10-21"), tick=False):
        for scheme in (loyalty.scheme_a, loyalty.scheme_b):
            settlement_period_settle(scheme=scheme, starts_at=AUGUST_STARTS, ends_at=AUGUST_ENDS)
    return loyalty


def expected_settlement(ledger, scheme, merchant_lines) -> list[tuple]:
    return [
        (scheme.code, "points", AUGUST_STARTS, AUGUST_ENDS, ledger.merchants[key].code,
         ledger.merchants[key].name, "award_contribution", base, basis_points, debit, 0, 1)
        for key, base, basis_points, debit in merchant_lines
    ]  # fmt: skip


def test_the_settlement_report(settled, operator):
    manager = client_manager_of(settled.client_a)
    scheme_a_lines = expected_settlement(
        settled,
        settled.scheme_a,
        sorted(
            [("M1", 105, 5000, 52), ("M2", 45, 2500, 11)],
            key=lambda line: settled.merchants[line[0]].code,
        ),
    )
    scheme_b_lines = expected_settlement(settled, settled.scheme_b, [("MB", 500, 0, 0)])

    assert rows(manager, Export.Report.SETTLEMENT) == scheme_a_lines
    assert sorted(rows(operator, Export.Report.SETTLEMENT)) == sorted(
        scheme_a_lines + scheme_b_lines
    )
    september = ReportFilters(date_from=date(2026, 9, 1))
    assert rows(manager, Export.Report.SETTLEMENT, september) == []
    assert count(manager, Export.Report.SETTLEMENT) == 2


# -- claims -------------------------------------------------------------------------------------


@pytest.fixture
def campaigns(private_storage):  # noqa: F811
    built = build_campaigns()
    delivered = Claim.objects.get(scheme=built.campaign_1, status=ClaimStatus.DELIVERED)
    Shipment.objects.create(
        claim=delivered,
        carrier="PostNord",
        tracking_number="00370000000000001",
        dispatched_at=at("2026-11-02", 9),
    )
    return built


def expected_claims(campaign, partner_name: str) -> list[tuple]:
    """Each claim of ``campaign`` as the report shows it, worked out from its own rows."""
    expected = []
    for claim in Claim.objects.filter(scheme=campaign).order_by("submitted_at", "pk"):
        decisions = [
            transition.occurred_at
            for transition in ClaimTransition.objects.filter(claim=claim)
            if transition.to_status in (ClaimStatus.APPROVED, ClaimStatus.REJECTED)
        ]
        shipments = [shipment.dispatched_at for shipment in Shipment.objects.filter(claim=claim)]
        row = (
            claim.number,
            campaign.name,
            claim.prize.name,
            claim.status,
            claim.submitted_at,
            max(decisions) if decisions else None,
            min(shipments) if shipments else None,
            partner_name,
        )
        expected.append((*row, claim.region))
    return expected


def test_the_claims_report_for_a_channel_partner_is_their_claims_only(campaigns):
    partner = partner_user(campaigns.client_a, campaigns.partner_1)
    expected = expected_claims(campaigns.campaign_1, "North region")

    assert len(expected) == 4
    assert [row[3] for row in expected] == ["submitted", "approved", "rejected", "delivered"]
    assert expected[3][6] == at("2026-11-02", 9)
    assert expected[0][5] is None
    assert expected[1][5] is not None
    assert rows(partner, Export.Report.CLAIMS) == expected
    assert count(partner, Export.Report.CLAIMS) == 4
    assert len(CLAIM_COLUMNS) == len(expected[0])


def test_the_claims_report_for_a_client_manager_and_an_operator(campaigns, operator):
    manager = client_manager_of(campaigns.client_a)
    client_a_claims = expected_claims(campaigns.campaign_1, "North region") + expected_claims(
        campaigns.campaign_2, "South region"
    )
    everything = client_a_claims + expected_claims(campaigns.campaign_b, "B's distributor")

    def in_report_order(expected):
        return sorted(expected, key=lambda row: (row[4], Claim.objects.get(number=row[0]).pk))

    assert rows(manager, Export.Report.CLAIMS) == in_report_order(client_a_claims)
    assert rows(operator, Export.Report.CLAIMS) == in_report_order(everything)
    only_partner_2 = ReportFilters(channel_partner_id=campaigns.partner_2.pk)
    assert rows(manager, Export.Report.CLAIMS, only_partner_2) == expected_claims(
        campaigns.campaign_2, "South region"
    )
    rejected = ReportFilters(status="rejected")
    assert [row[3] for row in rows(manager, Export.Report.CLAIMS, rejected)] == ["rejected"]


@pytest.mark.parametrize(
    "field", ["scheme", "channel_partner"], ids=["another campaign", "another partner"]
)
def test_a_partner_cannot_reach_another_partners_claims_through_a_filter(campaigns, field):
    partner = partner_user(campaigns.client_a, campaigns.partner_1)
    other = {"scheme": campaigns.campaign_2.pk, "channel_partner": campaigns.partner_2.pk}
    form = ExportRequestForm(
        {"report": "claims", "format": "csv", field: other[field]}, scope=scope_for_user(partner)
    )

    assert not form.is_valid()
    assert form.errors[field] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    # and even handed the other partner's filters directly, the scope keeps them out
    direct = ReportFilters(
        scheme_id=campaigns.campaign_2.pk, channel_partner_id=campaigns.partner_2.pk
    )
    assert rows(partner, Export.Report.CLAIMS, direct) == []


def test_the_claims_report_filters_by_submission_day(campaigns):
    manager = client_manager_of(campaigns.client_a)
    long_ago = ReportFilters(date_from=date(2020, 1, 1), date_to=date(2020, 1, 31))

    assert rows(manager, Export.Report.CLAIMS, long_ago) == []
    form = ExportRequestForm(
        {"report": "claims", "format": "csv", "date_from": "2026-02-01", "date_to": "2026-01-01"},
        scope=scope_for_user(manager),
    )
    assert not form.is_valid()
    assert form.non_field_errors() == ["The first day comes after the last."]
