"""Batch evaluation run: 1,000,000 queued purchase events of 100,000 participants, a scheme
with the five effective offers of bench.common.BENCH_OFFERS.

Bars (issue 3): at least 20,000 events/s, and within 3x of a raw COPY of the rows the run
writes (its journals, lots and entries, copied into indexed tables of the same shape).

Also measured, for information: the one-by-one path (``events_process_queued``, one
transaction per event) on a sample of the same queue, which is why the run uses the
set-based path (``rewards.services.batch_evaluation``).
"""

import multiprocessing

from bench.common import (
    Result,
    checkpoint,
    copy_baseline,
    machine_load,
    make_fixture,
    say,
    scaled,
    sql,
    stopwatch,
    vacuum_analyze,
)

EVENTS = 1_000_000
PARTICIPANTS = 100_000
ONE_BY_ONE_SAMPLE = 5_000
CHUNK = 5_000
WORKERS = 2  # one per core: while one worker's Python evaluates, the other's COPY runs

BAR_EVENTS_PER_SECOND = 20_000
BAR_COPY_RATIO = 3.0

_QUEUE_SQL = """
WITH g AS (
    SELECT n,
           %(first_participant)s + (n %% %(participants)s) AS participant_id,
           now() - make_interval(secs => floor(random() * 30 * 86400)::int) AS occurred_at,
           500 + floor(random() * random() * 50000)::int AS total,
           random() < 0.10 AS has_coffee,
           1 + floor(random() * 3)::int AS quantity
      FROM generate_series(1, %(count)s) AS n
)
INSERT INTO rewards_customerevent (scheme_id, participant_id, merchant_id, source, external_id,
    type, occurred_at, received_at, total_minor, original_event_id, clawback_demanded_minor,
    payload, payload_hash, status, processed_at, response)
SELECT %(scheme_id)s, participant_id, %(merchant_id)s, 'pos', 'q-' || n, 'purchase',
       occurred_at, occurred_at + interval '2 minutes', total, NULL, 0,
       jsonb_build_object(
           'source', 'pos', 'external_id', 'q-' || n, 'type', 'purchase',
           'participant', participant_id, 'merchant', %(merchant_code)s,
           'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
           'lines', CASE WHEN has_coffee THEN jsonb_build_array(
                        jsonb_build_object('product', 'COFFEE-1KG', 'quantity', quantity,
                                           'amount_minor', least(total, 900 * quantity)),
                        jsonb_build_object('product', 'SKU-' || (n %% 500), 'quantity', 1,
                                           'amount_minor', total - least(total, 900 * quantity)))
                    ELSE jsonb_build_array(
                        jsonb_build_object('product', 'SKU-' || (n %% 500),
                                           'quantity', quantity, 'amount_minor', total))
                    END,
           'total_minor', total, 'payment_medium', 'card', 'area', NULL,
           'achievement_code', NULL, 'original_external_id', NULL),
       -- A stand-in for the canonical hash: replays are not part of this benchmark.
       md5(n::text) || md5(n::text), 'queued', NULL,
       jsonb_build_object('status', 'queued', 'awards', jsonb_build_array())
  FROM g ORDER BY n
"""


def _queue_events(fixture, count: int) -> None:
    sql("SELECT setseed(0.42)")
    sql(
        _QUEUE_SQL,
        {
            "first_participant": fixture.first_participant_id,
            "participants": fixture.participants,
            "count": count,
            "scheme_id": fixture.scheme_id,
            "merchant_id": fixture.merchant_id,
            "merchant_code": fixture.merchant_code,
        },
    )


def _batch_worker(scheme_id: int, chunk: int, counts) -> None:
    """One worker process: takes chunks until the queue is empty (as a Celery run task)."""
    from django.db import connection

    from rewards.services.batch_evaluation import events_evaluate_batch

    connection.close()  # never share the parent's connection across fork
    processed = posted = 0
    after_id = 0  # this worker's cursor, as a run keeps it (see events_evaluate_batch)
    while True:
        result = events_evaluate_batch(scheme_id=scheme_id, limit=chunk, after_id=after_id)
        if not result.processed:
            if not after_id:
                break
            after_id = 0
            continue
        processed += result.processed
        posted += result.posted
        after_id = result.last_event_id
    with counts.get_lock():
        counts[0] += processed
        counts[1] += posted
    connection.close()


def _run_batch(scheme_id: int, workers: int, chunk: int) -> tuple[float, int, int]:
    from django.db import connection

    connection.close()
    context = multiprocessing.get_context("fork")
    counts = context.Array("q", 2)
    processes = [
        context.Process(target=_batch_worker, args=(scheme_id, chunk, counts))
        for _ in range(workers)
    ]
    with stopwatch() as elapsed:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    if any(process.exitcode for process in processes):
        raise RuntimeError("a batch evaluation worker failed (see its traceback above)")
    return elapsed[0], counts[0], counts[1]


def _check_totals(fixture) -> str:
    """The ledger after the run: every journal balances, every wallet's cached balance is
    the sum of its entries and of its lots' remainders, no event is left queued."""
    [(unbalanced,)] = sql(
        "SELECT count(*) FROM (SELECT journal_id FROM rewards_entry GROUP BY journal_id "
        "HAVING sum(amount_minor) <> 0) AS j"
    )
    [(wrong_wallets, balance_total)] = sql(
        """
        SELECT count(*) FILTER (WHERE a.balance_minor <> COALESCE(e.total, 0)
                                   OR a.balance_minor <> COALESCE(l.open, 0)),
               COALESCE(sum(a.balance_minor), 0)
          FROM rewards_account a
          LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM rewards_entry
                      GROUP BY account_id) e ON e.account_id = a.id
          LEFT JOIN (SELECT account_id,
                            sum(amount_minor - consumed_minor - expired_minor - reversed_minor)
                              AS open
                       FROM rewards_awardlot GROUP BY account_id) l ON l.account_id = a.id
         WHERE a.kind = 'wallet' AND a.scheme_id = %s
        """,
        [fixture.scheme_id],
    )
    [(queued,)] = sql(
        "SELECT count(*) FROM rewards_customerevent WHERE scheme_id = %s AND status = 'queued'",
        [fixture.scheme_id],
    )
    [(issued,)] = sql(
        "SELECT -COALESCE(sum(e.amount_minor), 0) FROM rewards_entry e "
        "JOIN rewards_account a ON a.id = e.account_id "
        "WHERE a.scheme_id = %s AND a.kind = 'points_issued'",
        [fixture.scheme_id],
    )
    [(redeemed,)] = sql(
        "SELECT COALESCE(sum(e.amount_minor), 0) FROM rewards_entry e "
        "JOIN rewards_account a ON a.id = e.account_id "
        "WHERE a.scheme_id = %s AND a.kind = 'points_redeemed'",
        [fixture.scheme_id],
    )
    problems = []
    if unbalanced:
        problems.append(f"{unbalanced} unbalanced journals")
    if wrong_wallets:
        problems.append(f"{wrong_wallets} wallets off")
    if queued:
        problems.append(f"{queued} events still queued")
    if balance_total != issued - redeemed:
        problems.append(f"balances {balance_total} != issued {issued} - redeemed {redeemed}")
    if problems:
        raise AssertionError("evaluation run left the ledger wrong: " + "; ".join(problems))
    return f"totals exact: balances {balance_total:,} = issued {issued:,} - instant {redeemed:,}"


def main(scale: float) -> list[Result]:
    from bench.common import reset_data
    from rewards.services.events import events_process_queued

    events = scaled(EVENTS, scale, 100)
    sample = scaled(ONE_BY_ONE_SAMPLE, scale, 50)
    participants = scaled(PARTICIPANTS, scale, 10)
    reset_data()
    say(f"fixture: {participants:,} participants, 5 offers, {events + sample:,} queued events")
    fixture = make_fixture(code="eval", participants=participants, event_processing="queued")
    _queue_events(fixture, sample + events)
    vacuum_analyze(
        "rewards_customerevent", "rewards_participant", "rewards_account", "rewards_offer"
    )
    checkpoint()

    say(f"one-by-one path on the first {sample:,} events ({machine_load()})")
    with stopwatch() as one_by_one:
        done = 0
        while done < sample:
            processed = events_process_queued(
                scheme_id=fixture.scheme_id, limit=min(1000, sample - done)
            )
            if not processed:
                break
            done += processed
    one_by_one_rate = done / one_by_one[0]
    say(f"  {one_by_one_rate:,.0f} events/s")

    [(max_journal,)] = sql("SELECT COALESCE(max(id), 0) FROM rewards_journal")
    vacuum_analyze("rewards_customerevent", "rewards_awardlot", "rewards_entry", "rewards_journal")
    checkpoint()
    load_before = machine_load()
    say(f"batch run over {events:,} events, {WORKERS} workers, chunks of {CHUNK} ({load_before})")
    seconds, processed, posted = _run_batch(fixture.scheme_id, WORKERS, CHUNK)
    load_after = machine_load()
    rate = processed / seconds
    say(f"  {processed:,} events in {seconds:.1f} s: {rate:,.0f} events/s ({load_after})")
    totals = _check_totals(fixture)
    say(f"  {totals}")

    say("baseline: raw COPY of the journals, lots and entries the run wrote")
    copy_seconds, rows = copy_baseline(
        {
            "rewards_journal": "bench_copy_journal",
            "rewards_awardlot": "bench_copy_awardlot",
            "rewards_entry": "bench_copy_entry",
        },
        source_filter={
            "rewards_journal": f"id > {max_journal}",
            "rewards_awardlot": f"journal_id > {max_journal}",
            "rewards_entry": f"journal_id > {max_journal}",
        },
    )
    say(f"  {rows:,} rows in {copy_seconds:.1f} s")
    ratio = seconds / copy_seconds
    return [
        Result(
            benchmark=f"evaluation run, {processed:,} queued events (batch, {WORKERS} workers)",
            figure=f"{rate:,.0f} events/s ({seconds:.1f} s)",
            baseline=f"COPY of its {rows:,} rows: {copy_seconds:.1f} s",
            ratio=ratio,
            ratio_note="x COPY time",
            bar=f">= {BAR_EVENTS_PER_SECOND:,} events/s, <= {BAR_COPY_RATIO:g}x COPY",
            passed=rate >= BAR_EVENTS_PER_SECOND and ratio <= BAR_COPY_RATIO,
            notes=f"{posted:,} award journals; {totals}; {load_before} before, {load_after} after",
        ),
        Result(
            benchmark=f"evaluation one event per transaction ({done:,} events sample)",
            figure=f"{one_by_one_rate:,.0f} events/s ({one_by_one[0]:.1f} s)",
            baseline="batch run above",
            ratio=rate / one_by_one_rate,
            ratio_note="batch speed-up",
            bar="(information)",
            passed=None,
        ),
    ]
