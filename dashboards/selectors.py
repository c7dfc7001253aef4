"""Reads for the dashboards: every number on a board and in the API comes from here, read
from the rollup tables (dashboards.models) through a Scope (dashboards.scoping).

Definitions (docs/DASHBOARDS.md has the long form), per month in the scheme's time zone:

- awards / spends / expirations: journals of that kind, net of reversed ones; their amounts
  are what left points-issued (awards), reached points-redeemed (spends and instant
  discounts) and reached points-expired.
- awarded but not spent: the running total of awarded minus spent up to the month's end
  (what has since expired or been clawed back is included: it was never spent).
- outstanding liability: the running total of the wallets' net change, which is exactly the
  sum of the wallet balances (the ledger keeps each balance equal to its entries).
- participants: effective at the month's end (sign-ups so far minus terminations so far).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from dashboards.models import (
    LedgerMonth,
    OfferMonth,
    ParticipantUnit,
    RollupState,
    SignUpMonth,
    TerminationMonth,
)
from dashboards.scoping import Scope
from rewards.models import Journal, Participant, Scheme

# Minor units per major unit for currencies that do not use two decimals (ISO 4217).
_CURRENCY_EXPONENTS = {"BHD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "OMR": 3}
MAX_MONTHS = 60
TOP_OFFERS = 5


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [month_add(first, offset) for offset in range(max(count, 0))]


def current_month() -> date:
    return month_start(timezone.localdate())


@dataclass(frozen=True, slots=True)
class Unit:
    """What a scheme counts in: points, or a currency whose minor unit is 10**-exponent."""

    label: str
    exponent: int

    @classmethod
    def of(cls, scheme: Scheme) -> "Unit":
        if scheme.unit == Scheme.Unit.MONEY:
            return cls(scheme.currency, _CURRENCY_EXPONENTS.get(scheme.currency, 2))
        return cls("points", 0)

    @property
    def scale(self) -> int:
        return 10**self.exponent

    def major(self, amount_minor: int) -> Decimal:
        return Decimal(amount_minor).scaleb(-self.exponent)

    def format(self, amount_minor: int) -> str:
        if self.exponent == 0:
            return f"{amount_minor:,} {self.label}"
        return f"{self.major(amount_minor):,.{self.exponent}f} {self.label}"


@dataclass(frozen=True, slots=True)
class BoardFilters:
    """What the board shows: the schemes (None: every loyalty scheme in scope) and the
    months, first and last included."""

    scheme: Scheme | None
    month_from: date
    month_to: date

    @classmethod
    def default(cls) -> "BoardFilters":
        last = current_month()
        return cls(scheme=None, month_from=month_add(last, -11), month_to=last)


@dataclass(slots=True)
class MonthFigures:
    month: date
    participants: int = 0
    sign_ups: int = 0
    terminations: int = 0
    awards: int = 0
    spends: int = 0
    expirations: int = 0
    # Amounts are None when the schemes shown count in different units.
    awarded_minor: int | None = 0
    spent_minor: int | None = 0
    expired_minor: int | None = 0
    clawed_back_minor: int | None = 0
    awarded_not_spent_minor: int | None = 0
    liability_minor: int | None = 0


@dataclass(frozen=True, slots=True)
class TerminationMonthFigures:
    month: date
    by_reason: dict[str, int]
    total: int


@dataclass(frozen=True, slots=True)
class OfferFigures:
    offer_id: int
    offer_code: str
    offer_name: str
    scheme_id: int
    scheme_name: str
    unit: Unit
    awards: int
    awarded_minor: int


@dataclass(frozen=True, slots=True)
class SchemeFigures:
    scheme_id: int
    code: str
    name: str
    unit: Unit
    participants_effective: int
    participants_terminated: int
    liability_minor: int
    awarded_not_spent_minor: int


@dataclass(frozen=True, slots=True)
class SignUpUnitFigures:
    scheme_id: int
    scheme_name: str
    merchant_id: int | None
    merchant_name: str
    effective: int
    terminated: int


@dataclass(slots=True)
class LoyaltyBoard:
    filters: BoardFilters
    schemes: list[SchemeFigures]
    unit: Unit | None
    months: list[MonthFigures]
    termination_reasons: list[tuple[str, str]]
    terminations: list[TerminationMonthFigures]
    top_offers_month: date
    top_offers: list[OfferFigures]
    sign_up_units: list[SignUpUnitFigures]
    ledger_computed_at: datetime | None
    participants_computed_at: datetime | None
    liability_groups: list[tuple[Unit, list[SchemeFigures]]] = field(default_factory=list)

    @property
    def participants_effective(self) -> int:
        return sum(scheme.participants_effective for scheme in self.schemes)

    @property
    def liability_minor(self) -> int | None:
        if self.unit is None:
            return None
        return sum(scheme.liability_minor for scheme in self.schemes)

    @property
    def awarded_not_spent_minor(self) -> int | None:
        if self.unit is None:
            return None
        return sum(scheme.awarded_not_spent_minor for scheme in self.schemes)

    @property
    def computed_at(self) -> datetime | None:
        """When the older of the two rollups was computed: every figure is at least as
        fresh as this."""
        times = [self.ledger_computed_at, self.participants_computed_at]
        if any(moment is None for moment in times):
            return None
        return min(moment for moment in times if moment is not None)


def board_schemes(*, scope: Scope, filters: BoardFilters) -> list[Scheme]:
    schemes = scope.loyalty_schemes().order_by("name", "pk")
    if filters.scheme is not None:
        schemes = schemes.filter(pk=filters.scheme.pk)
    return list(schemes)


_AWARD_KINDS = {(Journal.Kind.AWARD, ""), (Journal.Kind.REVERSAL, Journal.Kind.AWARD)}


def _net_count(kind: str, row_kind: str, reversed_kind: str, count: int) -> int:
    """A kind's journals count +1, reversals of that kind -1."""
    if row_kind == kind:
        return count
    if row_kind == Journal.Kind.REVERSAL and reversed_kind == kind:
        return -count
    return 0


def _awarded(row_kind: str, reversed_kind: str, issued_minor: int) -> int:
    return issued_minor if (row_kind, reversed_kind) in _AWARD_KINDS else 0


def _scheme_figures(scope: Scope, schemes: list[Scheme]) -> list[SchemeFigures]:
    ids = [scheme.pk for scheme in schemes]
    ledger: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        scope.restrict(LedgerMonth.objects.filter(scheme_id__in=ids))
        .values("scheme_id", "kind", "reversed_kind")
        .annotate(
            issued=Sum("issued_minor"),
            redeemed=Sum("redeemed_minor"),
            wallet=Sum("wallet_net_minor"),
        )
    )
    for row in rows:
        totals = ledger[row["scheme_id"]]
        totals["awarded"] += _awarded(row["kind"], row["reversed_kind"], row["issued"])
        totals["spent"] += row["redeemed"]
        totals["liability"] += row["wallet"]
    people: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit_row in (
        scope.restrict(ParticipantUnit.objects.filter(scheme_id__in=ids))
        .values("scheme_id")
        .annotate(effective=Sum("effective"), terminated=Sum("terminated"))
    ):
        people[unit_row["scheme_id"]]["effective"] = unit_row["effective"]
        people[unit_row["scheme_id"]]["terminated"] = unit_row["terminated"]
    return [
        SchemeFigures(
            scheme_id=scheme.pk,
            code=scheme.code,
            name=scheme.name,
            unit=Unit.of(scheme),
            participants_effective=people[scheme.pk]["effective"],
            participants_terminated=people[scheme.pk]["terminated"],
            liability_minor=ledger[scheme.pk]["liability"],
            awarded_not_spent_minor=ledger[scheme.pk]["awarded"] - ledger[scheme.pk]["spent"],
        )
        for scheme in schemes
    ]


def _month_figures(
    scope: Scope, ids: list[int], filters: BoardFilters, *, with_amounts: bool
) -> list[MonthFigures]:
    """Each month of the range; running totals start from everything before it."""
    months = {
        month: MonthFigures(month) for month in months_between(filters.month_from, filters.month_to)
    }
    awarded_total = spent_total = liability_total = 0

    ledger_rows = (
        scope.restrict(LedgerMonth.objects.filter(scheme_id__in=ids, month__lte=filters.month_to))
        .values("month", "kind", "reversed_kind")
        .annotate(
            journals=Sum("journal_count"),
            issued=Sum("issued_minor"),
            redeemed=Sum("redeemed_minor"),
            expired=Sum("expired_minor"),
            wallet=Sum("wallet_net_minor"),
        )
    )
    flows: dict[date, MonthFigures] = {}
    for row in ledger_rows:
        figures = flows.setdefault(row["month"], MonthFigures(row["month"]))
        kind, reversed_kind, journals = row["kind"], row["reversed_kind"], row["journals"]
        figures.awards += _net_count(Journal.Kind.AWARD, kind, reversed_kind, journals)
        figures.spends += _net_count(Journal.Kind.SPEND, kind, reversed_kind, journals)
        figures.expirations += _net_count(Journal.Kind.EXPIRATION, kind, reversed_kind, journals)
        figures.awarded_minor = (figures.awarded_minor or 0) + _awarded(
            kind, reversed_kind, row["issued"]
        )
        figures.spent_minor = (figures.spent_minor or 0) + row["redeemed"]
        figures.expired_minor = (figures.expired_minor or 0) + row["expired"]
        if kind == Journal.Kind.CLAWBACK:
            figures.clawed_back_minor = (figures.clawed_back_minor or 0) - row["issued"]
        figures.liability_minor = (figures.liability_minor or 0) + row["wallet"]

    sign_ups = dict(
        scope.restrict(SignUpMonth.objects.filter(scheme_id__in=ids, month__lte=filters.month_to))
        .values("month")
        .annotate(total=Sum("sign_ups"))
        .values_list("month", "total")
    )
    terminations = dict(
        scope.restrict(
            TerminationMonth.objects.filter(scheme_id__in=ids, month__lte=filters.month_to)
        )
        .values("month")
        .annotate(total=Sum("terminations"))
        .values_list("month", "total")
    )

    participants = 0
    every_month = sorted(set(flows) | set(sign_ups) | set(terminations) | set(months))
    for month in every_month:
        flow = flows.get(month, MonthFigures(month))
        awarded_total += flow.awarded_minor or 0
        spent_total += flow.spent_minor or 0
        liability_total += flow.liability_minor or 0
        participants += sign_ups.get(month, 0) - terminations.get(month, 0)
        shown = months.get(month)
        if shown is None:
            continue
        shown.participants = participants
        shown.sign_ups = sign_ups.get(month, 0)
        shown.terminations = terminations.get(month, 0)
        shown.awards, shown.spends, shown.expirations = (
            flow.awards,
            flow.spends,
            flow.expirations,
        )
        if with_amounts:
            shown.awarded_minor = flow.awarded_minor or 0
            shown.spent_minor = flow.spent_minor or 0
            shown.expired_minor = flow.expired_minor or 0
            shown.clawed_back_minor = flow.clawed_back_minor or 0
            shown.awarded_not_spent_minor = awarded_total - spent_total
            shown.liability_minor = liability_total
        else:
            shown.awarded_minor = shown.spent_minor = shown.expired_minor = None
            shown.clawed_back_minor = shown.awarded_not_spent_minor = None
            shown.liability_minor = None
    return list(months.values())


def _termination_figures(
    scope: Scope, ids: list[int], filters: BoardFilters
) -> tuple[list[tuple[str, str]], list[TerminationMonthFigures]]:
    rows = (
        scope.restrict(
            TerminationMonth.objects.filter(
                scheme_id__in=ids, month__gte=filters.month_from, month__lte=filters.month_to
            )
        )
        .values("month", "reason")
        .annotate(total=Sum("terminations"))
    )
    by_month: dict[date, dict[str, int]] = defaultdict(dict)
    seen: set[str] = set()
    for row in rows:
        by_month[row["month"]][row["reason"]] = row["total"]
        seen.add(row["reason"])
    labels = dict(Participant.TerminationReason.choices)
    reasons = [(value, str(labels[value])) for value in labels if value in seen]
    reasons += [(value, value) for value in sorted(seen - set(labels))]
    return reasons, [
        TerminationMonthFigures(
            month=month,
            by_reason={value: by_month[month].get(value, 0) for value, _label in reasons},
            total=sum(by_month[month].values()),
        )
        for month in months_between(filters.month_from, filters.month_to)
    ]


def top_offers_month(filters: BoardFilters) -> date:
    """Last month, or the range's nearest month when the range does not include it."""
    last_month = month_add(current_month(), -1)
    return min(max(last_month, filters.month_from), filters.month_to)


def _top_offers(scope: Scope, ids: list[int], month: date) -> list[OfferFigures]:
    rows = (
        scope.restrict(OfferMonth.objects.filter(scheme_id__in=ids, month=month))
        .select_related("offer", "scheme")
        .order_by("-award_count", "-awarded_minor", "offer_id")[:TOP_OFFERS]
    )
    return [
        OfferFigures(
            offer_id=row.offer_id,
            offer_code=row.offer.code,
            offer_name=row.offer.name,
            scheme_id=row.scheme_id,
            scheme_name=row.scheme.name,
            unit=Unit.of(row.scheme),
            awards=row.award_count,
            awarded_minor=row.awarded_minor,
        )
        for row in rows
    ]


def _sign_up_units(scope: Scope, ids: list[int]) -> list[SignUpUnitFigures]:
    rows = (
        scope.restrict(ParticipantUnit.objects.filter(scheme_id__in=ids))
        .select_related("scheme", "merchant")
        .order_by("-effective", "scheme__name", "merchant__name", "pk")
    )
    return [
        SignUpUnitFigures(
            scheme_id=row.scheme_id,
            scheme_name=row.scheme.name,
            merchant_id=row.merchant_id,
            merchant_name=row.merchant.name if row.merchant is not None else "",
            effective=row.effective,
            terminated=row.terminated,
        )
        for row in rows
    ]


def loyalty_board(*, scope: Scope, filters: BoardFilters) -> LoyaltyBoard:
    """Every figure of the loyalty operator board for ``scope``. Raises NoDashboardAccess
    for a scope the board is not open to."""
    scope.require_loyalty_board()
    schemes = board_schemes(scope=scope, filters=filters)
    ids = [scheme.pk for scheme in schemes]
    units = {Unit.of(scheme) for scheme in schemes}
    unit = next(iter(units)) if len(units) == 1 else None
    scheme_figures = _scheme_figures(scope, schemes)
    groups: dict[Unit, list[SchemeFigures]] = defaultdict(list)
    for figures in scheme_figures:
        groups[figures.unit].append(figures)
    reasons, terminations = _termination_figures(scope, ids, filters)
    offers_month = top_offers_month(filters)
    states = {state.name: state.computed_at for state in RollupState.objects.all()}
    return LoyaltyBoard(
        filters=filters,
        schemes=scheme_figures,
        unit=unit,
        months=_month_figures(scope, ids, filters, with_amounts=unit is not None),
        termination_reasons=reasons,
        terminations=terminations,
        top_offers_month=offers_month,
        top_offers=_top_offers(scope, ids, offers_month),
        sign_up_units=_sign_up_units(scope, ids),
        ledger_computed_at=states.get(RollupState.Name.LEDGER),
        participants_computed_at=states.get(RollupState.Name.PARTICIPANTS),
        liability_groups=sorted(groups.items(), key=lambda item: item[0].label),
    )
