"""The four reports the dashboards export (docs/DASHBOARDS.md, "Reports and exports").

Each report is a header and a generator of rows read with set-based queries: rows come from
one ``values_list(...).iterator(chunk_size=...)`` each, and the balance report adds one
aggregate statement over the award lots per chunk of wallets, never a query per row. Every
read goes through the user's Scope (dashboards.scoping), like the dashboards: the loyalty
reports (balances, participants, settlement) see the scope's loyalty schemes and nothing
for a channel partner; the claims report narrows claims to a partner through
CLAIM_PARTNER_FIELD.

Cells are plain values: int (amounts in minor units), str, date, aware datetime or None;
dashboards.exports turns them into CSV or XLSX cells.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import batched
from typing import Any

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from claims.models import Claim, ClaimStatus, ClaimTransition, Shipment
from dashboards.models import Export
from dashboards.scoping import CAMPAIGN_KINDS, CLAIM_PARTNER_FIELD, Scope
from rewards.models import Participant, Scheme, SettlementLine

CHUNK_ROWS = 2000
LOYALTY_REPORTS = frozenset(
    {Export.Report.PARTICIPANT_BALANCES, Export.Report.PARTICIPANTS, Export.Report.SETTLEMENT}
)
# Claims whose checker decision closed the review: the decision's time is "decided".
_DECIDED_STATUSES = (ClaimStatus.APPROVED, ClaimStatus.REJECTED)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """Validated filters (dashboards.forms_reports): ``scheme_id`` is a loyalty scheme for
    the loyalty reports and a campaign for the claims report; the dates are days in the
    site's time zone, both included; ``status`` a participant or claim status."""

    scheme_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    channel_partner_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The filters as stored on Export.filters (and sent back to the form), without the
        ones left empty."""
        values = {
            "scheme": self.scheme_id,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "status": self.status or None,
            "channel_partner": self.channel_partner_id,
        }
        return {name: value for name, value in values.items() if value is not None}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _in_days(rows: QuerySet[Any], field: str, filters: ReportFilters) -> QuerySet[Any]:
    if filters.date_from is not None:
        rows = rows.filter(**{f"{field}__gte": _day_start(filters.date_from)})
    if filters.date_to is not None:
        rows = rows.filter(**{f"{field}__lt": _day_start(filters.date_to + timedelta(days=1))})
    return rows


def _unit(unit: str, currency: str) -> str:
    return "points" if unit == Scheme.Unit.POINTS else currency


# -- participants and their balances ----------------------------------------------------------


def _participants(scope: Scope, filters: ReportFilters) -> QuerySet[Participant]:
    rows = scope.restrict(
        Participant.objects.filter(scheme__in=scope.loyalty_schemes()), partner_field=None
    )
    if filters.scheme_id is not None:
        rows = rows.filter(scheme_id=filters.scheme_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    return _in_days(rows, "signed_up_at", filters)


BALANCE_COLUMNS = (
    "participant_id",
    "member_number",
    "customer_name",
    "scheme",
    "unit",
    "status",
    "balance_minor",
    "pending_minor",
    "next_expiry_on",
    "next_expiry_minor",
)

# Per wallet, over its lots with something left and not yet expired at %(at)s: what is still
# pending (available later), the first day (the scheme's time zone) a lot expires, and what
# the lots expiring that day hold.
_LOT_FIGURES_SQL = """
WITH open_lots AS (
    SELECT lot.account_id,
           lot.amount_minor - lot.consumed_minor - lot.expired_minor - lot.reversed_minor
               AS remaining_minor,
           lot.available_from,
           (lot.expires_at AT TIME ZONE scheme.time_zone)::date AS expires_on
      FROM rewards_awardlot lot
      JOIN rewards_account account ON account.id = lot.account_id
      JOIN rewards_scheme scheme ON scheme.id = account.scheme_id
     WHERE lot.account_id = ANY(%(accounts)s)
       AND lot.amount_minor > lot.consumed_minor + lot.expired_minor + lot.reversed_minor
       AND (lot.expires_at IS NULL OR lot.expires_at > %(at)s)
), next_expiry AS (
    SELECT account_id, min(expires_on) AS expires_on
      FROM open_lots
     WHERE expires_on IS NOT NULL
     GROUP BY account_id
)
SELECT open_lots.account_id,
       COALESCE(sum(remaining_minor) FILTER (WHERE available_from > %(at)s), 0),
       next_expiry.expires_on,
       COALESCE(sum(remaining_minor)
                FILTER (WHERE open_lots.expires_on = next_expiry.expires_on), 0)
  FROM open_lots
  LEFT JOIN next_expiry ON next_expiry.account_id = open_lots.account_id
 GROUP BY open_lots.account_id, next_expiry.expires_on
"""


def _lot_figures(account_ids: list[int], at: datetime) -> dict[int, tuple[int, date | None, int]]:
    with connection.cursor() as cursor:
        cursor.execute(_LOT_FIGURES_SQL, {"accounts": account_ids, "at": at})
        return {
            account_id: (int(pending), expires_on, int(expiring))
            for account_id, pending, expires_on, expiring in cursor.fetchall()
        }


def participant_balance_rows(
    scope: Scope, filters: ReportFilters, *, at: datetime
) -> Iterator[Row]:
    """One row per participant: the wallet's ledger balance, what is pending (lots not yet
    available), and the next expiry day and amount, as of ``at``."""
    rows = (
        _participants(scope, filters)
        .order_by("scheme__code", "pk")
        .values_list(
            "pk",
            "customer__member_number",
            "customer__first_name",
            "customer__last_name",
            "scheme__code",
            "scheme__unit",
            "scheme__currency",
            "status",
            "wallet__pk",
            "wallet__balance_minor",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for chunk in batched(rows, CHUNK_ROWS):
        figures = _lot_figures([row[8] for row in chunk if row[8] is not None], at)
        for pk, member, first, last, scheme, unit, currency, status, wallet, balance in chunk:
            pending, expires_on, expiring = figures.get(wallet, (0, None, 0))
            yield (
                pk,
                member,
                f"{first} {last}".strip(),
                scheme,
                _unit(unit, currency),
                status,
                balance or 0,
                pending,
                expires_on,
                expiring,
            )


PARTICIPANT_COLUMNS = (
    "participant_id",
    "member_number",
    "customer_name",
    "scheme",
    "sign_up_unit_code",
    "sign_up_unit",
    "signed_up_at",
    "status",
    "terminated_at",
    "termination_reason",
    "purchases",
)


def participant_rows(scope: Scope, filters: ReportFilters, *, at: datetime) -> Iterator[Row]:
    rows = (
        _participants(scope, filters)
        .order_by("scheme__code", "pk")
        .values_list(
            "pk",
            "customer__member_number",
            "customer__first_name",
            "customer__last_name",
            "scheme__code",
            "sign_up_merchant__code",
            "sign_up_merchant__name",
            "signed_up_at",
            "status",
            "terminated_at",
            "termination_reason",
            "purchase_count",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for pk, member, first, last, *rest in rows:
        yield (pk, member, f"{first} {last}".strip(), *rest)


# -- claims -------------------------------------------------------------------------------------


def _claims(scope: Scope, filters: ReportFilters) -> QuerySet[Claim]:
    rows = scope.restrict(
        Claim.objects.filter(scheme__kind__in=CAMPAIGN_KINDS, submitted_at__isnull=False),
        partner_field=CLAIM_PARTNER_FIELD,
    )
    if filters.scheme_id is not None:
        rows = rows.filter(scheme_id=filters.scheme_id)
    if filters.channel_partner_id is not None:
        rows = rows.filter(**{f"{CLAIM_PARTNER_FIELD}_id": filters.channel_partner_id})
    if filters.status:
        rows = rows.filter(status=filters.status)
    return _in_days(rows, "submitted_at", filters)


CLAIM_COLUMNS = (
    "claim_number",
    "campaign",
    "prize",
    "status",
    "submitted_at",
    "decided_at",
    "dispatched_at",
    "channel_partner",
    "region",
)


def claim_rows(scope: Scope, filters: ReportFilters, *, at: datetime) -> Iterator[Row]:
    """Claims first submitted in the range; ``decided_at`` is the last move to approved or
    rejected, ``dispatched_at`` the first shipment."""
    decided = (
        ClaimTransition.objects.filter(claim=OuterRef("pk"), to_status__in=_DECIDED_STATUSES)
        .order_by("-occurred_at", "-pk")
        .values("occurred_at")[:1]
    )
    dispatched = (
        Shipment.objects.filter(claim=OuterRef("pk"))
        .order_by("dispatched_at", "pk")
        .values("dispatched_at")[:1]
    )
    fields = [
        "number",
        "scheme__name",
        "prize__name",
        "status",
        "submitted_at",
        "decided_at",
        "dispatched_at",
        f"{CLAIM_PARTNER_FIELD}__name",
        "region",
    ]
    yield from (
        _claims(scope, filters)
        .annotate(decided_at=Subquery(decided), dispatched_at=Subquery(dispatched))
        .order_by("submitted_at", "pk")
        .values_list(*fields)
        .iterator(chunk_size=CHUNK_ROWS)
    )


# -- settlement --------------------------------------------------------------------------------


def _settlement_lines(scope: Scope, filters: ReportFilters) -> QuerySet[SettlementLine]:
    rows = scope.restrict(
        SettlementLine.objects.filter(period__scheme__in=scope.loyalty_schemes()),
        scheme_field="period__scheme",
        partner_field=None,
    )
    if filters.scheme_id is not None:
        rows = rows.filter(period__scheme_id=filters.scheme_id)
    return _in_days(rows, "period__starts_at", filters)


SETTLEMENT_COLUMNS = (
    "scheme",
    "unit",
    "period_start",
    "period_end",
    "merchant_code",
    "merchant_name",
    "kind",
    "base_minor",
    "basis_points",
    "debit_minor",
    "credit_minor",
    "journals",
)


def settlement_rows(scope: Scope, filters: ReportFilters, *, at: datetime) -> Iterator[Row]:
    """One row per settlement line of the periods starting in the range (the end is not
    included in a period), debit or credit filled, as finance books them."""
    rows = (
        _settlement_lines(scope, filters)
        .order_by("period__scheme__code", "period__starts_at", "merchant__code", "kind")
        .values_list(
            "period__scheme__code",
            "period__scheme__unit",
            "period__scheme__currency",
            "period__starts_at",
            "period__ends_at",
            "merchant__code",
            "merchant__name",
            "kind",
            "direction",
            "base_minor",
            "basis_points",
            "amount_minor",
            "journal_count",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for scheme, unit, currency, starts, ends, code, name, kind, direction, *rest in rows:
        base, basis_points, amount, journals = rest
        is_debit = direction == SettlementLine.Direction.DEBIT
        yield (
            scheme,
            _unit(unit, currency),
            starts,
            ends,
            code,
            name,
            kind,
            base,
            basis_points,
            amount if is_debit else 0,
            0 if is_debit else amount,
            journals,
        )


# -- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportDefinition:
    key: str
    columns: tuple[str, ...]
    rows: Callable[..., Iterator[Row]]
    count: Callable[[Scope, ReportFilters], int]


REPORTS: dict[str, ReportDefinition] = {
    Export.Report.PARTICIPANT_BALANCES: ReportDefinition(
        Export.Report.PARTICIPANT_BALANCES,
        BALANCE_COLUMNS,
        participant_balance_rows,
        lambda scope, filters: _participants(scope, filters).count(),
    ),
    Export.Report.PARTICIPANTS: ReportDefinition(
        Export.Report.PARTICIPANTS,
        PARTICIPANT_COLUMNS,
        participant_rows,
        lambda scope, filters: _participants(scope, filters).count(),
    ),
    Export.Report.CLAIMS: ReportDefinition(
        Export.Report.CLAIMS,
        CLAIM_COLUMNS,
        claim_rows,
        lambda scope, filters: _claims(scope, filters).count(),
    ),
    Export.Report.SETTLEMENT: ReportDefinition(
        Export.Report.SETTLEMENT,
        SETTLEMENT_COLUMNS,
        settlement_rows,
        lambda scope, filters: _settlement_lines(scope, filters).count(),
    ),
}


def may_export_loyalty(scope: Scope) -> bool:
    """The loyalty reports follow the loyalty board: never for a channel partner."""
    return scope.may_view_loyalty_board and not scope.is_partner_limited


def reports_for_scope(scope: Scope) -> list[str]:
    return [
        report
        for report in Export.Report.values
        if report not in LOYALTY_REPORTS or may_export_loyalty(scope)
    ]
