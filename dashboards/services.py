"""Keeping the rollup tables current: the only writes the dashboards app makes.

The ledger rollups (LedgerMonth, OfferMonth) are incremental: each chunk counts journals
with an id above the cursor that are not counted yet, adds them to the monthly rows with
``INSERT ... ON CONFLICT DO UPDATE``, and records them as counted in the same transaction,
so a retried or concurrent run never counts a journal twice.

Why not simply "id > cursor"? A journal's id is taken when its posting inserts it, but the
row becomes visible only when that transaction commits, so id 100 can appear after id 101
was counted. The cursor therefore advances over a gap (an id not seen) only once no
transaction that could still commit it is running: the posting holding the missing id
started before the journal above the gap was allocated, hence before that journal was
counted (``counted_at``). If no other transaction in this database started at or before
that moment, the gap is either rolled back (an idempotent replay, a refused spend) or
committed and visible, and a last look finds the latter. This needs the role running the
rollups to see the other sessions' ``xact_start`` in pg_stat_activity: the same role as the
web and worker processes, or one with pg_read_all_stats.

The participant rollups are recounted in one set-based statement per table: they read the
participant table (one row per member), never the ledger.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from dashboards.models import (
    CountedJournal,
    LedgerMonth,
    OfferMonth,
    ParticipantUnit,
    RollupState,
    SignUpMonth,
    TerminationMonth,
)

CHUNK_SIZE = 5000
# How many counted journals above the cursor one advance looks at (a long transaction
# elsewhere holds the cursor back; counting goes on meanwhile).
ADVANCE_WINDOW = 100_000

# The uncounted journals above the cursor, lowest first: late commits in the window of
# counted journals (cursor, top], then journals above everything counted. Two index range
# scans; one NOT EXISTS over "id > cursor" would let the planner scan the whole table.
_NEXT_JOURNALS_SQL = """
SELECT id FROM (
    (SELECT j.id FROM rewards_journal j
      WHERE j.id > %(cursor)s AND j.id <= %(top)s
        AND NOT EXISTS (SELECT 1 FROM dashboards_countedjournal c WHERE c.journal_id = j.id)
      ORDER BY j.id LIMIT %(limit)s)
    UNION ALL
    (SELECT j.id FROM rewards_journal j WHERE j.id > %(top)s ORDER BY j.id LIMIT %(limit)s)
) uncounted
ORDER BY id
LIMIT %(limit)s
"""

_LEDGER_MONTH_SQL = """
INSERT INTO dashboards_ledgermonth AS r
       (scheme_id, month, kind, reversed_kind, journal_count, issued_minor, redeemed_minor,
        expired_minor, wallet_net_minor)
SELECT j.scheme_id,
       date_trunc('month', j.posted_at AT TIME ZONE s.time_zone)::date,
       j.kind,
       COALESCE(o.kind, ''),
       count(DISTINCT j.id),
       COALESCE(-sum(e.amount_minor) FILTER (WHERE a.kind = 'points_issued'), 0),
       COALESCE(sum(e.amount_minor) FILTER (WHERE a.kind = 'points_redeemed'), 0),
       COALESCE(sum(e.amount_minor) FILTER (WHERE a.kind = 'points_expired'), 0),
       COALESCE(sum(e.amount_minor) FILTER (WHERE a.kind = 'wallet'), 0)
  FROM rewards_journal j
  JOIN rewards_scheme s ON s.id = j.scheme_id
  LEFT JOIN rewards_journal o ON o.id = j.reverses_id
  LEFT JOIN rewards_entry e ON e.journal_id = j.id
  LEFT JOIN rewards_account a ON a.id = e.account_id
 WHERE j.id BETWEEN %(first)s AND %(last)s AND j.id = ANY(%(ids)s::bigint[])
 GROUP BY 1, 2, 3, 4
ON CONFLICT (scheme_id, month, kind, reversed_kind) DO UPDATE SET
       journal_count = r.journal_count + EXCLUDED.journal_count,
       issued_minor = r.issued_minor + EXCLUDED.issued_minor,
       redeemed_minor = r.redeemed_minor + EXCLUDED.redeemed_minor,
       expired_minor = r.expired_minor + EXCLUDED.expired_minor,
       wallet_net_minor = r.wallet_net_minor + EXCLUDED.wallet_net_minor
"""

# Awards per offer: the lots award journals created (transfers re-create lots; not awards).
_OFFER_MONTH_SQL = """
INSERT INTO dashboards_offermonth AS r (scheme_id, offer_id, month, award_count, awarded_minor)
SELECT j.scheme_id,
       l.offer_id,
       date_trunc('month', j.posted_at AT TIME ZONE s.time_zone)::date,
       count(*),
       sum(l.amount_minor)
  FROM rewards_journal j
  JOIN rewards_scheme s ON s.id = j.scheme_id
  JOIN rewards_awardlot l ON l.journal_id = j.id
 WHERE j.id BETWEEN %(first)s AND %(last)s AND j.id = ANY(%(ids)s::bigint[])
   AND j.kind = 'award' AND l.offer_id IS NOT NULL
 GROUP BY 1, 2, 3
ON CONFLICT (offer_id, month) DO UPDATE SET
       award_count = r.award_count + EXCLUDED.award_count,
       awarded_minor = r.awarded_minor + EXCLUDED.awarded_minor
"""

_MARK_COUNTED_SQL = """
INSERT INTO dashboards_countedjournal (journal_id, counted_at)
SELECT unnest(%(ids)s::bigint[]), clock_timestamp()
"""

# The oldest transaction still running in this database, other than ours. The statistics
# snapshot is cleared first: PostgreSQL keeps one per transaction otherwise.
_OLDEST_RUNNING_SQL = """
SELECT min(started) FROM (
    SELECT xact_start AS started FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend'
       AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
    UNION ALL
    SELECT prepared FROM pg_prepared_xacts WHERE database = current_database()
) running
"""

_FIRST_UNCOUNTED_SQL = """
SELECT min(j.id) FROM rewards_journal j
 WHERE j.id > %(cursor)s AND j.id <= %(candidate)s
   AND NOT EXISTS (SELECT 1 FROM dashboards_countedjournal c WHERE c.journal_id = j.id)
"""

_SIGN_UP_MONTH_SQL = """
INSERT INTO dashboards_signupmonth (scheme_id, month, sign_ups)
SELECT p.scheme_id, date_trunc('month', p.signed_up_at AT TIME ZONE s.time_zone)::date, count(*)
  FROM rewards_participant p JOIN rewards_scheme s ON s.id = p.scheme_id
 GROUP BY 1, 2
"""

_TERMINATION_MONTH_SQL = """
INSERT INTO dashboards_terminationmonth (scheme_id, month, reason, terminations)
SELECT p.scheme_id, date_trunc('month', p.terminated_at AT TIME ZONE s.time_zone)::date,
       p.termination_reason, count(*)
  FROM rewards_participant p JOIN rewards_scheme s ON s.id = p.scheme_id
 WHERE p.status = 'terminated'
 GROUP BY 1, 2, 3
"""

_PARTICIPANT_UNIT_SQL = """
INSERT INTO dashboards_participantunit (scheme_id, merchant_id, effective, terminated)
SELECT p.scheme_id, p.sign_up_merchant_id,
       count(*) FILTER (WHERE p.status = 'effective'),
       count(*) FILTER (WHERE p.status = 'terminated')
  FROM rewards_participant p
 GROUP BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    name: str
    rows: int
    cursor_id: int
    computed_at: datetime | None


def _state_lock(name: str) -> RollupState:
    """Locks the rollup's state row, waiting for a run in progress: runs of one rollup are
    serialised by it."""
    RollupState.objects.get_or_create(name=name)
    return RollupState.objects.select_for_update().get(name=name)


def _state_lock_unless_busy(name: str) -> RollupState | None:
    """Locks the rollup's state row, or answers None when another run holds it (that run
    does the work)."""
    RollupState.objects.get_or_create(name=name)
    return RollupState.objects.select_for_update(skip_locked=True).filter(name=name).first()


def _count_journals(cursor_id: int, limit: int) -> int:
    """Adds the next uncounted journals above the cursor to the rollups; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(max(journal_id), %s) FROM dashboards_countedjournal", [cursor_id]
        )
        top = max(cursor.fetchone()[0], cursor_id)
        cursor.execute(_NEXT_JOURNALS_SQL, {"cursor": cursor_id, "top": top, "limit": limit})
        ids = [row[0] for row in cursor.fetchall()]
        if ids:
            # The bounds give the planner an index range (the ids come sorted).
            batch = {"ids": ids, "first": ids[0], "last": ids[-1]}
            cursor.execute(_LEDGER_MONTH_SQL, batch)
            cursor.execute(_OFFER_MONTH_SQL, batch)
            cursor.execute(_MARK_COUNTED_SQL, {"ids": ids})
    return len(ids)


def _cursor_advance(cursor_id: int) -> int:
    """Moves the cursor over counted journals and over gaps no running transaction can
    fill any more; forgets the counted rows it passed. Returns the new cursor."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_OLDEST_RUNNING_SQL)
        oldest_running = cursor.fetchone()[0]
        cursor.execute(
            "SELECT journal_id, counted_at FROM dashboards_countedjournal "
            "WHERE journal_id > %s ORDER BY journal_id LIMIT %s",
            [cursor_id, ADVANCE_WINDOW],
        )
        candidate = cursor_id
        for journal_id, counted_at in cursor.fetchall():
            is_gap = journal_id != candidate + 1
            if is_gap and oldest_running is not None and oldest_running <= counted_at:
                break  # the missing ids may belong to a posting still running
            candidate = journal_id
        if candidate == cursor_id:
            return cursor_id
        # A posting that ended after the count above may have committed a gap's journal.
        cursor.execute(_FIRST_UNCOUNTED_SQL, {"cursor": cursor_id, "candidate": candidate})
        first_uncounted = cursor.fetchone()[0]
        if first_uncounted is not None:
            candidate = first_uncounted - 1
        cursor.execute("DELETE FROM dashboards_countedjournal WHERE journal_id <= %s", [candidate])
    return candidate


def _record_run(state: RollupState, *, rows: int, started: float) -> None:
    state.computed_at = timezone.now()
    state.last_run_rows = rows
    state.last_run_duration_ms = round((time.perf_counter() - started) * 1000)
    state.save(
        update_fields=["journal_cursor_id", "computed_at", "last_run_rows", "last_run_duration_ms"]
    )


def ledger_rollup_refresh(*, chunk_size: int = CHUNK_SIZE, max_chunks: int = 40) -> RefreshResult:
    """Counts the journals posted since the last run, one transaction per chunk.

    Safe to run twice and concurrently: a run that finds another holding the state row
    returns at once without counting anything.
    """
    started = time.perf_counter()
    counted = 0
    state: RollupState | None = None
    for _chunk in range(max_chunks):
        with transaction.atomic():
            state = _state_lock_unless_busy(RollupState.Name.LEDGER)
            if state is None:
                break
            rows = _count_journals(state.journal_cursor_id, chunk_size)
            state.journal_cursor_id = _cursor_advance(state.journal_cursor_id)
            counted += rows
            _record_run(state, rows=counted, started=started)
        if rows < chunk_size:
            break
    return RefreshResult(
        name=RollupState.Name.LEDGER,
        rows=counted,
        cursor_id=state.journal_cursor_id if state else 0,
        computed_at=state.computed_at if state else None,
    )


def _participants_recount() -> int:
    with connection.cursor() as cursor:
        for table, insert in (
            (SignUpMonth._meta.db_table, _SIGN_UP_MONTH_SQL),
            (TerminationMonth._meta.db_table, _TERMINATION_MONTH_SQL),
            (ParticipantUnit._meta.db_table, _PARTICIPANT_UNIT_SQL),
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
            cursor.execute(insert)
        cursor.execute("SELECT count(*) FROM rewards_participant")
        return int(cursor.fetchone()[0])


def participant_rollup_refresh() -> RefreshResult:
    """Recounts sign-ups and terminations per month and participants per sign-up unit in
    one transaction (readers see the old or the new figures, never a mix)."""
    started = time.perf_counter()
    with transaction.atomic():
        state = _state_lock_unless_busy(RollupState.Name.PARTICIPANTS)
        if state is None:
            return RefreshResult(RollupState.Name.PARTICIPANTS, 0, 0, None)
        rows = _participants_recount()
        _record_run(state, rows=rows, started=started)
    return RefreshResult(RollupState.Name.PARTICIPANTS, rows, 0, state.computed_at)


def rollups_refresh() -> list[RefreshResult]:
    """What the periodic task runs: both rollups brought up to date."""
    return [ledger_rollup_refresh(), participant_rollup_refresh()]


def rollups_rebuild(*, chunk_size: int = 50_000) -> list[RefreshResult]:
    """Recomputes every rollup from the ledger and the participants, in one transaction:
    the dashboards show the old figures until the new ones are complete. Waits for a
    periodic run in progress to finish first."""
    started = time.perf_counter()
    with transaction.atomic():
        ledger = _state_lock(RollupState.Name.LEDGER)
        participants = _state_lock(RollupState.Name.PARTICIPANTS)
        for model in (CountedJournal, LedgerMonth, OfferMonth):
            model.objects.all().delete()
        ledger.journal_cursor_id = 0
        counted = 0
        while True:
            rows = _count_journals(ledger.journal_cursor_id, chunk_size)
            ledger.journal_cursor_id = _cursor_advance(ledger.journal_cursor_id)
            counted += rows
            if rows < chunk_size:
                break
        _record_run(ledger, rows=counted, started=started)
        recounted = _participants_recount()
        _record_run(participants, rows=recounted, started=started)
    return [
        RefreshResult(ledger.name, counted, ledger.journal_cursor_id, ledger.computed_at),
        RefreshResult(participants.name, recounted, 0, participants.computed_at),
    ]
