"""Expiration run: 1,000,000 lots past their date on 100,000 wallets
(``rewards.services.ledger.lots_expire``: one journal per wallet, set-based, in chunks).

Bar (issue 3): within 2x of a plain set-based UPDATE of the same lots, timed on a copy of
the lot table with the same indexes and fillfactor in the same run.
"""

from django.utils import timezone

from bench.common import (
    Result,
    checkpoint,
    machine_load,
    make_fixture,
    reset_data,
    say,
    scaled,
    sql,
    stopwatch,
    vacuum_analyze,
)

LOTS_PER_WALLET = 10
WALLETS = 100_000
BAR_RATIO = 2.0

_SETUP_SQL = [
    # One award journal per wallet, its lots, their entries, then the cached balances. Lots
    # are written round-robin (lot k of every wallet, then lot k + 1), so a wallet's lots lie
    # far apart in the table, as awards earned over months do.
    """
    INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash,
                                 participant_id, memo, posted_at)
    SELECT %(scheme_id)s, 'award', 'bench-award:' || a.id, '', a.participant_id, '',
           now() - interval '200 days'
      FROM rewards_account a WHERE a.scheme_id = %(scheme_id)s AND a.kind = 'wallet'
     ORDER BY a.id
    """,
    """
    INSERT INTO rewards_awardlot (account_id, journal_id, offer_id, amount_minor,
        consumed_minor, expired_minor, reversed_minor, spend_method, awarded_at,
        available_from, expires_at)
    SELECT a.id, j.id, NULL, 1 + floor(random() * 1000)::int, 0, 0, 0, 'wallet',
           now() - interval '200 days', now() - interval '200 days',
           now() - make_interval(days => 1 + floor(random() * 30)::int)
      FROM generate_series(1, %(lots_per_wallet)s) AS k
     CROSS JOIN rewards_account a
      JOIN rewards_journal j ON j.idempotency_key = 'bench-award:' || a.id
     WHERE a.scheme_id = %(scheme_id)s AND a.kind = 'wallet'
     ORDER BY k, a.id
    """,
    """
    INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
    SELECT l.journal_id, l.account_id, l.id, l.amount_minor, now() - interval '200 days'
      FROM rewards_awardlot l JOIN rewards_account a ON a.id = l.account_id
     WHERE a.scheme_id = %(scheme_id)s
    """,
    """
    INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
    SELECT l.journal_id, x.id, NULL, -sum(l.amount_minor), now() - interval '200 days'
      FROM rewards_awardlot l
      JOIN rewards_account a ON a.id = l.account_id
      JOIN rewards_account x ON x.scheme_id = a.scheme_id AND x.kind = 'points_issued'
     WHERE a.scheme_id = %(scheme_id)s
     GROUP BY l.journal_id, x.id
    """,
    """
    UPDATE rewards_account a SET balance_minor = s.total
      FROM (SELECT account_id, sum(amount_minor) AS total FROM rewards_awardlot
             GROUP BY account_id) s
     WHERE a.id = s.account_id AND a.scheme_id = %(scheme_id)s
    """,
]

_BASELINE_UPDATE = """
UPDATE bench_lots
   SET expired_minor = expired_minor
                       + (amount_minor - consumed_minor - expired_minor - reversed_minor)
 WHERE expires_at <= %s
   AND amount_minor > consumed_minor + expired_minor + reversed_minor
"""


def main(scale: float) -> list[Result]:
    from django.db import transaction

    from rewards.services.ledger import lots_expire

    wallets = scaled(WALLETS, scale, 10)
    reset_data()
    say(f"fixture: {wallets:,} wallets with {LOTS_PER_WALLET} lots each, all past their date")
    fixture = make_fixture(code="expire", participants=wallets, offers=False)
    sql("SELECT setseed(0.17)")
    with transaction.atomic():
        for statement in _SETUP_SQL:
            sql(statement, {"scheme_id": fixture.scheme_id, "lots_per_wallet": LOTS_PER_WALLET})
    [(lots, total_minor)] = sql(
        "SELECT count(*), sum(amount_minor) FROM rewards_awardlot l "
        "JOIN rewards_account a ON a.id = l.account_id WHERE a.scheme_id = %s",
        [fixture.scheme_id],
    )

    say("baseline: a plain UPDATE of the same lots, on a copy of the lot table")
    sql("DROP TABLE IF EXISTS bench_lots")
    sql("CREATE TABLE bench_lots (LIKE rewards_awardlot INCLUDING ALL) WITH (fillfactor = 70)")
    sql("INSERT INTO bench_lots SELECT * FROM rewards_awardlot ORDER BY id")
    vacuum_analyze(
        "bench_lots", "rewards_awardlot", "rewards_account", "rewards_entry", "rewards_journal"
    )
    at = timezone.now()
    checkpoint()
    with stopwatch() as baseline, transaction.atomic():
        sql(_BASELINE_UPDATE, [at])
    say(f"  {baseline[0]:.1f} s")
    sql("DROP TABLE bench_lots")

    checkpoint()
    load_before = machine_load()
    say(f"lots_expire over {lots:,} lots ({load_before})")
    with stopwatch() as run:
        result = lots_expire(scheme_id=fixture.scheme_id, at=at)
    load_after = machine_load()
    say(
        f"  {result.wallets:,} wallets, {result.amount_minor:,} expired in {run[0]:.1f} s "
        f"({load_after})"
    )

    [(balances, expired_entries, journals)] = sql(
        """
        SELECT (SELECT COALESCE(sum(balance_minor), 0) FROM rewards_account
                 WHERE scheme_id = %(s)s AND kind = 'wallet'),
               (SELECT COALESCE(sum(e.amount_minor), 0) FROM rewards_entry e
                  JOIN rewards_account x ON x.id = e.account_id
                 WHERE x.scheme_id = %(s)s AND x.kind = 'points_expired'),
               (SELECT count(*) FROM rewards_journal WHERE scheme_id = %(s)s
                   AND kind = 'expiration')
        """,
        {"s": fixture.scheme_id},
    )
    if not (
        balances == 0
        and expired_entries == total_minor == result.amount_minor
        and journals == wallets == result.wallets
    ):
        raise AssertionError(
            f"expiration left the ledger wrong: balances {balances}, expired {expired_entries} "
            f"of {total_minor}, {journals} journals for {wallets} wallets"
        )
    ratio = run[0] / baseline[0]
    return [
        Result(
            benchmark=f"expiration run, {lots:,} lots on {wallets:,} wallets",
            figure=f"{run[0]:.1f} s ({lots / run[0]:,.0f} lots/s)",
            baseline=f"plain UPDATE of the lots: {baseline[0]:.1f} s",
            ratio=ratio,
            ratio_note="x UPDATE time",
            bar=f"<= {BAR_RATIO:g}x UPDATE",
            passed=ratio <= BAR_RATIO,
            notes=(
                f"{result.wallets:,} journals, {result.amount_minor:,} expired; totals exact "
                f"(balances 0, points_expired = awarded); {load_before} before, "
                f"{load_after} after"
            ),
        )
    ]
