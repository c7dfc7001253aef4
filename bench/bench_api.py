"""Interactive API under load: `POST /api/v1/events/` at concurrency 32 for 20 s on 10,000
wallets, the same on one hot wallet, and `POST /api/v1/spends/`, each next to the
minimal-DRF baseline (bench/baseline_urls.py: one primary-key SELECT) served the same way.

Servers: gunicorn with the product's own settings (config/gunicorn.py: sync workers, two
per CPU, which says why), on 127.0.0.1, against the
benchmark database with persistent connections (CONN_MAX_AGE). Each server is warmed up for
2 s with the requests it will measure before the 20 s that count: a thread's first request
opens its connection and prepares its statements, and measured cold the first second's queue
behind those set the p99 (429 ms cold against 187-224 ms warm on the same machine).

History: a live ledger is not empty, and PostgreSQL plans each prepared statement (and the
ledger triggers' look-ups) once per connection from the table sizes it sees then; planned
on empty tables, a look-up by key became a hash join over a sequential scan that grew with
every posting (20 s windows on one server: 385, 267, 235, 201 req/s). So the ledger tables
first hold another scheme's history (HISTORY_WALLETS wallets, an award journal, a lot and
two entries each), and are analyzed, as autovacuum keeps a live database (this machine's
PostgreSQL runs with autovacuum off).

Load: wrk (Debian's `wrk`, bench/wrk_load.lua), 2 threads, 32 connections, 20 s, a unique
external id or idempotency key per request. Afterwards the totals are checked against what
was sent: the wallet balances must equal the awards computed from the stored purchases by a
closed formula of the five offers (independent of the evaluation engine), and the spends
must have taken exactly 10 per posted spend.

Bars (issue 3): events at >= 40% of the baseline's requests/s, p99 < 150 ms, totals exact.
The hot-wallet case and spends are reported against the same baseline, without a bar.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import (
    Fixture,
    Result,
    checkpoint,
    database_url,
    machine_load,
    make_fixture,
    reset_data,
    say,
    scaled,
    sql,
    vacuum_analyze,
)

WALLETS = 10_000
HISTORY_WALLETS = 100_000
CONCURRENCY = 32
SECONDS = 20
# BENCH_GUNICORN_WORKER_CLASS=gthread with BENCH_GUNICORN_THREADS, and WEB_CONCURRENCY (the
# workers), reproduce the comparison in docs/BENCHMARKS.md ("Worker class").
WORKER_CLASS = os.environ.get("BENCH_GUNICORN_WORKER_CLASS")
THREADS = os.environ.get("BENCH_GUNICORN_THREADS")
BAR_SHARE_OF_BASELINE = 0.40
BAR_P99_MS = 150.0
SPEND_FUNDING = 10_000_000

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk_load.lua"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn serving ``settings`` on a free loopback port, in its own process group so
    stopping it takes its workers with it."""

    def __init__(self, settings: str) -> None:
        self.settings = settings
        self.port = _free_port()
        self.log = Path(tempfile.gettempdir()) / f"bench-gunicorn-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Server":
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings,
            "DATABASE_URL": database_url(),
            "BENCH_DATABASE_URL": database_url(),
            "DB_CONN_MAX_AGE": "600",
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                "python:config.gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                *(["--worker-class", WORKER_CLASS] if WORKER_CLASS else []),
                *(["--threads", THREADS] if THREADS else []),
            ],
            cwd=ROOT,
            env=environment,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, path: str, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}")
            try:
                request = urllib.request.Request(self.url(path), headers=headers)  # noqa: S310
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer {path} in 60 s; see {self.log}")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __exit__(self, *exc_info: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def wrk(server: Server, mode: str, first: int, count: int, key: str, run: str, seconds: int):
    occurred_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = [
        shutil.which("wrk") or "wrk",
        "--threads",
        "2",
        "--connections",
        str(CONCURRENCY),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--script",
        str(LUA),
        server.url(),
        "--",
        mode,
        str(first),
        str(count),
        key,
        run,
        occurred_at,
    ]
    completed = subprocess.run(  # noqa: S603 - our own command line
        command, capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    line = next(
        (line for line in completed.stdout.splitlines() if line.startswith("WRK_RESULT ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    result["load"] = machine_load()
    return result


def _describe(result: dict) -> str:
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(result["statuses"].items()))
    errors = sum(
        result[name] for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return (
        f"{result['requests']:,} requests, p50 {result['p50_us'] / 1000:.0f} ms, "
        f"p99 {result['p99_us'] / 1000:.0f} ms, statuses {{{statuses}}}, socket errors {errors}"
    )


def _fund_wallets(fixture: Fixture, amount: int) -> None:
    """One never-expiring lot of ``amount`` in every wallet (an award journal each)."""
    from django.db import transaction

    with transaction.atomic():
        _fund_statements(fixture, amount)


def _fund_statements(fixture: Fixture, amount: int) -> None:
    for statement in (
        """
        INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash,
                                     participant_id, memo, posted_at)
        SELECT a.scheme_id, 'award', 'bench-fund:' || a.id, '', a.participant_id, '', now()
          FROM rewards_account a WHERE a.scheme_id = %(scheme)s AND a.kind = 'wallet'
        """,
        """
        INSERT INTO rewards_awardlot (account_id, journal_id, offer_id, amount_minor,
            consumed_minor, expired_minor, reversed_minor, spend_method, awarded_at,
            available_from, expires_at)
        SELECT a.id, j.id, NULL, %(amount)s, 0, 0, 0, 'wallet', now(), now() - interval '1 day',
               NULL
          FROM rewards_account a
          JOIN rewards_journal j ON j.idempotency_key = 'bench-fund:' || a.id
         WHERE a.scheme_id = %(scheme)s AND a.kind = 'wallet'
        """,
        """
        INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
        SELECT l.journal_id, l.account_id, l.id, l.amount_minor, now()
          FROM rewards_awardlot l JOIN rewards_journal j ON j.id = l.journal_id
         WHERE j.idempotency_key LIKE 'bench-fund:%%' AND j.scheme_id = %(scheme)s
        UNION ALL
        SELECT j.id, x.id, NULL, -%(amount)s, now()
          FROM rewards_journal j
          JOIN rewards_account x ON x.scheme_id = j.scheme_id AND x.kind = 'points_issued'
         WHERE j.idempotency_key LIKE 'bench-fund:%%' AND j.scheme_id = %(scheme)s
        """,
        """
        UPDATE rewards_account SET balance_minor = balance_minor + %(amount)s
         WHERE scheme_id = %(scheme)s AND kind = 'wallet'
        """,
    ):
        sql(statement, {"scheme": fixture.scheme_id, "amount": amount})


# What the five offers of bench.common.BENCH_OFFERS award, written out independently of the
# evaluation engine: base rate 1% (its cap is out of reach), 2% more for gold members at
# weekends in Stockholm, 300 from a 25,000 basket (800 from 40,000), 500 for every 10th
# purchase of a participant; the coffee discount is spent on the same purchase (net 0).
_EXPECTED_BALANCES_SQL = """
WITH purchases AS (
    SELECT e.participant_id,
           e.total_minor * 100 / 10000
           + CASE WHEN p.segments ? 'gold'
                   AND extract(isodow FROM e.occurred_at AT TIME ZONE 'Europe/Stockholm') >= 6
                  THEN e.total_minor * 200 / 10000 ELSE 0 END
           + CASE WHEN e.total_minor >= 40000 THEN 800
                  WHEN e.total_minor >= 25000 THEN 300 ELSE 0 END AS award
      FROM rewards_customerevent e JOIN rewards_participant p ON p.id = e.participant_id
     WHERE e.scheme_id = %(scheme)s AND e.type = 'purchase' AND e.status = 'processed'
), per_participant AS (
    SELECT participant_id, count(*) AS purchases, sum(award) AS awards
      FROM purchases GROUP BY participant_id
)
SELECT COALESCE(sum(awards + purchases / 10 * 500), 0)::bigint,
       COALESCE(sum(purchases), 0)::bigint,
       (SELECT COALESCE(sum(purchase_count), 0) FROM rewards_participant
         WHERE scheme_id = %(scheme)s)::bigint
  FROM per_participant
"""


def _settle() -> None:
    """Waits until the server has finished the requests still in flight when wrk stopped
    (wrk stops counting at its deadline; the server goes on with up to one request per
    connection): the ledger's row counts must stay still for a second."""
    previous = None
    for _ in range(60):
        current = sql(
            "SELECT (SELECT count(*) FROM rewards_journal), "
            "(SELECT count(*) FROM rewards_customerevent)"
        )
        if current == previous:
            return
        previous = current
        time.sleep(1)


def _balances(fixture: Fixture) -> int:
    [(total,)] = sql(
        "SELECT COALESCE(sum(balance_minor), 0)::bigint FROM rewards_account "
        "WHERE scheme_id = %s AND kind = 'wallet'",
        [fixture.scheme_id],
    )
    return total


def _ledger_problems(fixture: Fixture) -> list[str]:
    [(unbalanced,)] = sql(
        "SELECT count(*) FROM (SELECT e.journal_id FROM rewards_entry e "
        "JOIN rewards_journal j ON j.id = e.journal_id WHERE j.scheme_id = %s "
        "GROUP BY e.journal_id HAVING sum(e.amount_minor) <> 0) AS x",
        [fixture.scheme_id],
    )
    [(off,)] = sql(
        """
        SELECT count(*) FROM rewards_account a
          LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM rewards_entry
                      GROUP BY account_id) e ON e.account_id = a.id
         WHERE a.scheme_id = %s AND a.kind = 'wallet'
           AND a.balance_minor <> COALESCE(e.total, 0)
        """,
        [fixture.scheme_id],
    )
    problems = []
    if unbalanced:
        problems.append(f"{unbalanced} unbalanced journals")
    if off:
        problems.append(f"{off} wallets whose balance is not the sum of their entries")
    return problems


def _check_events(fixture: Fixture, result: dict, run: str) -> tuple[bool, str]:
    _settle()
    [(stored,)] = sql(
        "SELECT count(*) FROM rewards_customerevent WHERE source = 'bench' AND external_id LIKE %s",
        [f"{run}-%"],
    )
    answered = result["statuses"].get("201", 0)
    [(expected, purchases, counted)] = sql(_EXPECTED_BALANCES_SQL, {"scheme": fixture.scheme_id})
    balances = _balances(fixture)
    problems = _ledger_problems(fixture)
    if balances != expected:
        problems.append(f"balances {balances:,} != expected awards {expected:,}")
    if counted != purchases:
        problems.append(f"purchase counts {counted:,} != purchases {purchases:,}")
    # wrk stops counting at the deadline; up to one request per connection may still land.
    if not answered <= stored <= answered + CONCURRENCY:
        problems.append(f"{stored:,} events stored for {answered:,} answered 201")
    if len(result["statuses"]) != 1:
        problems.append(f"statuses other than 201: {result['statuses']}")
    if problems:
        return False, "TOTALS WRONG: " + "; ".join(problems)
    return True, (
        f"totals exact: {stored:,} events stored ({answered:,} answered 201), balances "
        f"{balances:,} = awards computed from the purchases"
    )


def _check_spends(fixture: Fixture, result: dict, run: str, before: int) -> tuple[bool, str]:
    _settle()
    [(posted,)] = sql(
        "SELECT count(*) FROM rewards_journal WHERE kind = 'spend' AND memo LIKE %s",
        [f"{run}-%"],
    )
    answered = result["statuses"].get("201", 0)
    balances = _balances(fixture)
    problems = _ledger_problems(fixture)
    if balances != before - 10 * posted:
        problems.append(f"balances {balances:,} != {before:,} - 10 x {posted:,} spends")
    if not answered <= posted <= answered + CONCURRENCY:
        problems.append(f"{posted:,} spends posted for {answered:,} answered 201")
    if len(result["statuses"]) != 1:
        problems.append(f"statuses other than 201: {result['statuses']}")
    if problems:
        return False, "TOTALS WRONG: " + "; ".join(problems)
    return True, f"totals exact: {posted:,} spends of 10, balances {before:,} -> {balances:,}"


def main(scale: float) -> list[Result]:
    from rewards.models import Merchant
    from rewards.services.api_keys import api_key_create

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    wallets = scaled(WALLETS, scale, 100)
    seconds = max(3, round(SECONDS * min(1.0, scale * 10)))
    reset_data()
    history_wallets = scaled(HISTORY_WALLETS, scale, 1000)
    say(
        f"fixture: {wallets:,} wallets, 5 offers, another scheme's history of "
        f"{history_wallets:,} wallets; {seconds} s per load at concurrency {CONCURRENCY}"
    )
    history = make_fixture(code="api-history", participants=history_wallets, offers=False)
    _fund_wallets(history, 1_000)
    fixture = make_fixture(code="api", participants=wallets)
    _api_key, key = api_key_create(
        merchant=Merchant.objects.get(pk=fixture.merchant_id), actor="bench"
    )
    vacuum_analyze(
        "rewards_account",
        "rewards_participant",
        "rewards_offer",
        "rewards_journal",
        "rewards_awardlot",
        "rewards_entry",
        "rewards_customerevent",
    )
    checkpoint()
    headers = {"Authorization": f"Api-Key {key}"}
    first_p, first_a = fixture.first_participant_id, fixture.first_account_id
    hot = fixture.first_participant_id + wallets // 2

    with Server("bench.settings_baseline") as server:
        server.wait_ready(f"/baseline/{first_a}/", {})
        wrk(server, "baseline", first_a, wallets, key, "warm", 2)
        say(f"baseline GET, one primary-key SELECT ({machine_load()})")
        baseline = wrk(server, "baseline", first_a, wallets, key, "baseline", seconds)
        say(f"  {baseline['rate']:,.0f} req/s; {_describe(baseline)}")

    with Server("bench.settings") as server:
        server.wait_ready("/api/v1/offers/", headers)
        # Warmed up as the baseline is (module docstring); the warm-up's purchases count
        # in the totals check, which covers every purchase of the scheme.
        wrk(server, "events", first_p, wallets, key, "warm", 2)
        _settle()
        say(f"POST /api/v1/events/ on {wallets:,} wallets ({machine_load()})")
        events = wrk(server, "events", first_p, wallets, key, "ev", seconds)
        say(f"  {events['rate']:,.0f} req/s; {_describe(events)}")
        events_ok, events_totals = _check_events(fixture, events, "ev")
        say(f"  {events_totals}")

        say(f"POST /api/v1/events/ on one hot wallet ({machine_load()})")
        hot_events = wrk(server, "events", hot, 1, key, "hot", seconds)
        say(f"  {hot_events['rate']:,.0f} req/s; {_describe(hot_events)}")
        hot_ok, hot_totals = _check_events(fixture, hot_events, "hot")
        say(f"  {hot_totals}")

        _fund_wallets(fixture, SPEND_FUNDING)
        before = _balances(fixture)
        say(f"POST /api/v1/spends/ on {wallets:,} wallets ({machine_load()})")
        spends = wrk(server, "spends", first_p, wallets, key, "sp", seconds)
        say(f"  {spends['rate']:,.0f} req/s; {_describe(spends)}")
        spends_ok, spends_totals = _check_spends(fixture, spends, "sp", before)
        say(f"  {spends_totals}")

    base = baseline["rate"]
    base_text = f"minimal DRF GET: {base:,.0f} req/s (p99 {baseline['p99_us'] / 1000:.0f} ms)"

    def row(name: str, result: dict, ok: bool, totals: str, bar: bool) -> Result:
        share = result["rate"] / base
        p99 = result["p99_us"] / 1000
        return Result(
            benchmark=name,
            figure=f"{result['rate']:,.0f} req/s, p99 {p99:.0f} ms",
            baseline=base_text,
            ratio=share,
            ratio_note="of baseline req/s",
            bar=(
                f">= {BAR_SHARE_OF_BASELINE:.0%} of baseline, p99 < {BAR_P99_MS:g} ms, totals exact"
                if bar
                else "totals exact (no speed bar)"
            ),
            passed=(ok and share >= BAR_SHARE_OF_BASELINE and p99 < BAR_P99_MS if bar else ok),
            notes=f"{_describe(result)}; {totals}; {result['load']} after",
        )

    label = f"c{CONCURRENCY}, {seconds} s"
    return [
        row(
            f"POST /api/v1/events/, {wallets:,} wallets ({label})",
            events,
            events_ok,
            events_totals,
            True,
        ),
        row(
            f"POST /api/v1/events/, one hot wallet ({label})", hot_events, hot_ok, hot_totals, False
        ),
        row(
            f"POST /api/v1/spends/, {wallets:,} wallets ({label})",
            spends,
            spends_ok,
            spends_totals,
            False,
        ),
    ]
