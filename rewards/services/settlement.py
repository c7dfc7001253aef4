"""Merchant settlement (docs/LEDGER.md, "Settlement").

For a period of a scheme, each merchant is charged its award contribution (a share of the
points its events issued, net of clawbacks and reversals) and paid its spend reimbursement
(a share of the points redeemed at it, net of reversals), at the basis points on its
SchemeMerchant row. Everything comes from the ledger: the ``points_issued`` and
``points_redeemed`` entries of the journals that name the merchant.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rewards.models import Run, Scheme, SettlementLine, SettlementPeriod
from rewards.services.errors import InvalidRequest

# pg_advisory_xact_lock(namespace, scheme id): one settlement of a scheme at a time.
SETTLEMENT_LOCK_NAMESPACE = 7_302

_LINES_SQL = """
WITH totals AS (
    SELECT j.merchant_id,
           -COALESCE(sum(e.amount_minor) FILTER (WHERE a.kind = 'points_issued'), 0)::bigint
               AS issued,
           COALESCE(sum(e.amount_minor) FILTER (WHERE a.kind = 'points_redeemed'), 0)::bigint
               AS redeemed,
           count(DISTINCT j.id) FILTER (WHERE a.kind = 'points_issued') AS issued_journals,
           count(DISTINCT j.id) FILTER (WHERE a.kind = 'points_redeemed') AS redeemed_journals
      FROM rewards_journal j
      JOIN rewards_entry e ON e.journal_id = j.id
      JOIN rewards_account a ON a.id = e.account_id
     WHERE j.scheme_id = %(scheme_id)s
       AND j.posted_at >= %(starts_at)s AND j.posted_at < %(ends_at)s
       AND j.merchant_id IS NOT NULL
       AND a.kind IN ('points_issued', 'points_redeemed')
     GROUP BY j.merchant_id
)
INSERT INTO rewards_settlementline (period_id, merchant_id, kind, direction, base_minor,
                                    basis_points, amount_minor, journal_count)
SELECT %(period_id)s, t.merchant_id, k.kind,
       CASE WHEN (k.kind = 'award_contribution') = (k.base >= 0) THEN 'debit' ELSE 'credit' END,
       -- bigint division: the amount is rounded down, as the model documents
       k.base, k.rate, abs(k.base) * k.rate::bigint / 10000, k.journals
  FROM totals t
  LEFT JOIN rewards_schememerchant m
    ON m.scheme_id = %(scheme_id)s AND m.merchant_id = t.merchant_id
 CROSS JOIN LATERAL (VALUES
        ('award_contribution', t.issued,
         COALESCE(m.award_contribution_basis_points, 0), t.issued_journals),
        ('spend_reimbursement', t.redeemed,
         COALESCE(m.spend_reimbursement_basis_points, 0), t.redeemed_journals)
       ) AS k(kind, base, rate, journals)
 WHERE k.journals > 0
"""


def settlement_period_settle(
    *,
    scheme: Scheme,
    starts_at: datetime,
    ends_at: datetime,
    run: Run | None = None,
    now: datetime | None = None,
) -> tuple[SettlementPeriod, bool]:
    """Settles journals posted in ``[starts_at, ends_at)``; returns (period, created).

    The period row and its lines are written in one transaction, under a per-scheme lock:
    the same period again comes back with created False and writes nothing; a period
    overlapping a settled one, or one not over yet, is refused.
    """
    now = now or timezone.now()
    if ends_at <= starts_at:
        raise InvalidRequest("A settlement period must end after it starts.")
    if ends_at > now:
        raise InvalidRequest("A period can be settled only once it is over.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [SETTLEMENT_LOCK_NAMESPACE, scheme.pk]
            )
        existing = SettlementPeriod.objects.filter(
            scheme=scheme, starts_at=starts_at, ends_at=ends_at
        ).first()
        if existing is not None:
            return existing, False
        if SettlementPeriod.objects.filter(
            scheme=scheme, starts_at__lt=ends_at, ends_at__gt=starts_at
        ).exists():
            raise InvalidRequest("This period overlaps a period settled already.")
        period = SettlementPeriod.objects.create(
            scheme=scheme, starts_at=starts_at, ends_at=ends_at, run=run, settled_at=now
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _LINES_SQL,
                {
                    "scheme_id": scheme.pk,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "period_id": period.pk,
                },
            )
    return period, True


CSV_HEADER = [
    "scheme",
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
]


def settlement_csv_rows(*, periods: Iterable[SettlementPeriod]) -> Iterator[list[Any]]:
    """The lines of ``periods`` for finance: one row per line, debit or credit filled."""
    yield CSV_HEADER
    lines = (
        SettlementLine.objects.filter(period__in=list(periods))
        .select_related("period__scheme", "merchant")
        .order_by("period__scheme__code", "period__starts_at", "merchant__code", "kind")
    )
    for line in lines:
        is_debit = line.direction == SettlementLine.Direction.DEBIT
        yield [
            line.period.scheme.code,
            line.period.starts_at.isoformat(),
            line.period.ends_at.isoformat(),
            _cell(line.merchant.code),
            _cell(line.merchant.name),
            line.kind,
            line.base_minor,
            line.basis_points,
            line.amount_minor if is_debit else 0,
            0 if is_debit else line.amount_minor,
            line.journal_count,
        ]


def _cell(text: str) -> str:
    """Spreadsheets run a cell starting with = + - or @ as a formula: quote it."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def settlement_csv(*, periods: Iterable[SettlementPeriod]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(settlement_csv_rows(periods=periods))
    return buffer.getvalue()
