"""What every benchmark shares: the Result row, timing, machine load, the benchmark database
and set-based fixtures (clients, schemes, participants with wallets, the issue 3 offers).

Fixtures are written with plain SQL, not the services: building 100,000 wallets through
``participant_join`` would take longer than the benchmarks themselves, and the set-up is not
what is measured.
"""

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/campaigns_bench"


@dataclass(slots=True)
class Result:
    """One line of the report.

    ``ratio`` compares the figure with the baseline measured in the same run; ``ratio_note``
    says which way round ("run / COPY time", "req/s of baseline"). ``passed`` is None for a
    figure that has no bar (reported for information).
    """

    benchmark: str
    figure: str
    baseline: str = ""
    ratio: float | None = None
    ratio_note: str = ""
    bar: str = ""
    passed: bool | None = None
    notes: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "pass" if self.passed else "MISS"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def maintenance_url(url: str) -> str:
    """The same server's ``postgres`` database, to drop and create the benchmark one."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def machine_load() -> str:
    """The 1, 5 and 15 minute load averages (2 cores here: above 2 means waiting)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: ...`` then ``elapsed[0]`` is the wall time in seconds."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start


def scaled(count: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(count * scale))


def say(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sql(statement: str, params: object = None) -> list[tuple]:
    """Runs one statement on Django's connection; returns its rows (if any)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def checkpoint() -> None:
    """Flushes dirty pages first so a checkpoint does not land in the middle of a timing."""
    sql("CHECKPOINT")


def vacuum_analyze(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


# ----------------------------------------------------------------------------- fixtures

# Tables benchmarks fill; emptied before each benchmark so one does not slow the next.
DATA_TABLES = (
    "rewards_entry",
    "rewards_awardlot",
    "rewards_journal",
    "rewards_customerevent",
    "rewards_account",
    "rewards_participant",
    "rewards_offer",
    "rewards_apikey",
    "rewards_schememerchant",
    "rewards_merchant_groups",
    "rewards_merchant",
    "rewards_product_categories",
    "rewards_product",
    "rewards_productcategory",
    "rewards_run",
    "rewards_scheme",
    "crm_customer",
    "crm_client",
)


def reset_data() -> None:
    """Empties the tables the benchmarks fill (TRUNCATE is allowed on the ledger: only
    UPDATE and DELETE are refused by its triggers)."""
    from django.db import connection

    existing = set(connection.introspection.table_names())
    tables = [table for table in DATA_TABLES if table in existing]
    sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@dataclass(frozen=True, slots=True)
class Fixture:
    client_id: int
    scheme_id: int
    merchant_id: int
    merchant_code: str
    first_participant_id: int
    last_participant_id: int
    first_account_id: int
    last_account_id: int
    offer_ids: tuple[int, ...] = ()

    @property
    def participants(self) -> int:
        return self.last_participant_id - self.first_participant_id + 1


def insert(table: str, values: dict[str, str], tail: str = "", params: object = None) -> list:
    """``INSERT INTO table (...) SELECT <values> <tail> RETURNING id``: the value expressions
    are SQL, and every other NOT NULL column without a default gets a neutral value (false,
    0, '', now()), so a column another team adds does not break the fixtures."""
    columns = _required_columns(table, values)
    return sql(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns.values())} "
        f"{tail} RETURNING id",
        params,
    )


def make_scheme(*, code: str, event_processing: str = "immediate") -> tuple[int, int, int, str]:
    """A client, a loyalty scheme with its system accounts and one merchant in it.
    Returns (client id, scheme id, merchant id, merchant code)."""
    from rewards.models import Scheme
    from rewards.services.ledger import scheme_accounts_ensure

    [(client_id,)] = insert(
        "crm_client",
        {"name": "%(name)s", "code": "%(code)s", "is_active": "true", "created_at": "now()"},
        params={"name": f"Bench client {code}", "code": f"bench-{code}"},
    )
    [(scheme_id,)] = insert(
        "rewards_scheme",
        {
            "client_id": "%(client)s",
            "name": "%(name)s",
            "code": "%(code)s",
            "kind": "'loyalty'",
            "unit": "'points'",
            "currency": "''",
            "starts_at": "now() - interval '400 days'",
            "return_policy": "'within_balance'",
            "event_processing": "%(processing)s",
            "time_zone": "'Europe/Stockholm'",
            "created_at": "now()",
        },
        params={
            "client": client_id,
            "name": f"Bench scheme {code}",
            "code": code,
            "processing": event_processing,
        },
    )
    merchant_code = f"shop-{code}"
    [(merchant_id,)] = insert(
        "rewards_merchant",
        {
            "name": "%(name)s",
            "code": "%(code)s",
            "area": "'north'",
            "is_active": "true",
            "created_at": "now()",
        },
        params={"name": f"Shop {code}", "code": merchant_code},
    )
    insert(
        "rewards_schememerchant",
        {"scheme_id": "%(scheme)s", "merchant_id": "%(merchant)s", "joined_at": "now()"},
        params={"scheme": scheme_id, "merchant": merchant_id},
    )
    scheme_accounts_ensure(scheme=Scheme(pk=scheme_id))
    return client_id, scheme_id, merchant_id, merchant_code


def make_participants(
    *, scheme_id: int, count: int, gold_every: int = 5
) -> tuple[int, int, int, int]:
    """``count`` customers, participants and empty wallets, set-based. Every ``gold_every``th
    participant is in the "gold" segment. Returns (first participant id, last participant id,
    first account id, last account id); ids are consecutive."""
    [(base,)] = sql("SELECT COALESCE(max(id), 0) FROM crm_customer")
    insert(
        "crm_customer",
        {
            "first_name": "'Bench'",
            "last_name": "'Customer ' || n",
            "phone": "'+4670' || lpad(n::text, 9, '0')",
            "email": "''",
            "preferred_language": "'en'",
            "created_at": "now()",
        },
        "FROM generate_series(%(base)s::bigint + 1, %(base)s::bigint + %(count)s) AS n",
        {"base": base, "count": count},
    )
    rows = insert(
        "rewards_participant",
        {
            "scheme_id": "%(scheme)s",
            "customer_id": "c.id",
            "status": "'effective'",
            "signed_up_at": "now() - interval '300 days'",
            "segments": "CASE WHEN c.id %% %(gold)s = 0 THEN '[\"gold\"]'::jsonb "
            "ELSE '[]'::jsonb END",
        },
        "FROM crm_customer c WHERE c.id > %(base)s ORDER BY c.id",
        {"scheme": scheme_id, "gold": gold_every, "base": base},
    )
    participant_ids = sorted(row[0] for row in rows)
    account_rows = insert(
        "rewards_account",
        {
            "scheme_id": "%(scheme)s",
            "kind": "'wallet'",
            "participant_id": "p",
            "balance_minor": "0",
            "created_at": "now()",
        },
        "FROM unnest(%(participants)s::bigint[]) AS p ORDER BY p",
        {"scheme": scheme_id, "participants": participant_ids},
    )
    account_ids = sorted(row[0] for row in account_rows)
    assert participant_ids[-1] - participant_ids[0] + 1 == count
    assert account_ids[-1] - account_ids[0] + 1 == count
    return participant_ids[0], participant_ids[-1], account_ids[0], account_ids[-1]


def _required_columns(table: str, known: dict[str, str]) -> dict[str, str]:
    """``known`` column expressions plus a neutral value for every other NOT NULL column
    without a default: crm's customer table is another team's and grows columns."""
    neutral = {
        "character varying": "''",
        "text": "''",
        "boolean": "false",
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "timestamp with time zone": "now()",
        "jsonb": "'{}'::jsonb",
    }
    columns = dict(known)
    for name, data_type in sql(
        """
        SELECT column_name, data_type FROM information_schema.columns
         WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL
           AND is_identity = 'NO'
        """,
        [table],
    ):
        if name not in columns:
            columns[name] = neutral[data_type]
    return columns


COFFEE = "COFFEE-1KG"

# The scheme of issue 3's benchmarks: five effective purchase offers, as a retailer would
# run them. About 1.3 awards per purchase: everyone earns the base rate; the others fire on
# some purchases only (coffee in the basket, every 10th purchase, gold members at weekends,
# big baskets). One has a participant cap (counted per event from the lots), one a budget
# (locked per posting), one is an instant discount (its lot is spent in the same journal).
BENCH_OFFERS: tuple[tuple[str, str, dict, int | None], ...] = (
    (
        "base-rate",
        "purchase_amount",
        {
            "award": {"type": "percentage", "basis_points": 100},
            "award_validity": {"expires_after_days": 365},
            "participant_cap": {"period": "month", "amount_minor": 1_000_000_000},
        },
        None,
    ),
    (
        "coffee-discount",
        "item_quantity",
        {
            "conditions": {"products": [COFFEE]},
            "award": {"type": "per_item", "amount_minor": 50},
            "spend_method": "instant_discount",
        },
        None,
    ),
    (
        "tenth-purchase",
        "purchase_count",
        {
            "every_nth_purchase": 10,
            "award": {"type": "fixed", "amount_minor": 500},
            "award_validity": {"expires_after_days": 90},
        },
        None,
    ),
    (
        "gold-weekend",
        "purchase_amount",
        {
            "conditions": {"segments_include": ["gold"], "weekdays": ["sat", "sun"]},
            "award": {"type": "percentage", "basis_points": 200},
            "award_validity": {"available_after_days": 14, "expires_after_days": 365},
        },
        None,
    ),
    (
        "big-basket",
        "purchase_amount",
        {
            "conditions": {"min_spend_minor": 25_000},
            "award": {
                "type": "tiers",
                "tiers": [
                    {"min_spend_minor": 25_000, "amount_minor": 300},
                    {"min_spend_minor": 40_000, "amount_minor": 800},
                ],
            },
            "award_validity": {"expires_after_days": 180},
        },
        10**15,
    ),
)


def make_offers(*, scheme_id: int) -> tuple[int, ...]:
    """The five effective offers above, validated as the offer service would."""
    from rewards.evaluation import parse_offer_rules

    ids = []
    for code, classification, rules, budget in BENCH_OFFERS:
        parse_offer_rules(0, classification, rules)
        [(offer_id,)] = insert(
            "rewards_offer",
            {
                "scheme_id": "%(scheme)s",
                "name": "%(code)s",
                "code": "%(code)s",
                "classification": "%(classification)s",
                "status": "'effective'",
                "rules": "%(rules)s::jsonb",
                "budget_total_minor": "%(budget)s",
                "budget_used_minor": "0",
                "latest_effective_at": "now()",
                "created_at": "now()",
            },
            params={
                "scheme": scheme_id,
                "code": code,
                "classification": classification,
                "rules": json.dumps(rules),
                "budget": budget,
            },
        )
        ids.append(offer_id)
    return tuple(ids)


def make_fixture(
    *, code: str, participants: int, offers: bool = True, event_processing: str = "immediate"
) -> Fixture:
    client_id, scheme_id, merchant_id, merchant_code = make_scheme(
        code=code, event_processing=event_processing
    )
    first_p, last_p, first_a, last_a = make_participants(scheme_id=scheme_id, count=participants)
    offer_ids = make_offers(scheme_id=scheme_id) if offers else ()
    return Fixture(
        client_id=client_id,
        scheme_id=scheme_id,
        merchant_id=merchant_id,
        merchant_code=merchant_code,
        first_participant_id=first_p,
        last_participant_id=last_p,
        first_account_id=first_a,
        last_account_id=last_a,
        offer_ids=offer_ids,
    )


def iso(value: datetime) -> str:
    return value.isoformat()


# ----------------------------------------------------------------------------- COPY baseline


def copy_baseline(tables: dict[str, str], *, source_filter: dict[str, str]) -> tuple[float, int]:
    """Times a raw ``COPY ... FROM STDIN`` of rows the benchmark wrote, into empty copies of
    their tables with the same indexes (``LIKE ... INCLUDING ALL``), without the foreign keys
    and the ledger's triggers: what PostgreSQL needs just to store and index those rows.

    ``tables`` maps each real table to its copy's name; ``source_filter`` gives the WHERE
    clause selecting the benchmark's rows in each real table. The rows are first read out
    into memory (not timed). Returns (seconds, rows).
    """
    from django.db import connection

    data: dict[str, tuple[list[str], bytes]] = {}
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        for table, copy_table in tables.items():
            cursor.execute(f"DROP TABLE IF EXISTS {copy_table}")
            cursor.execute(f"CREATE TABLE {copy_table} (LIKE {table} INCLUDING ALL)")
            columns = [
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            ]
            column_list = ", ".join(columns)
            with raw.copy(
                f"COPY (SELECT {column_list} FROM {table} WHERE {source_filter[table]}) TO STDOUT"
            ) as copy:
                chunks = [bytes(chunk) for chunk in copy]
            data[copy_table] = (columns, b"".join(chunks))
    checkpoint()
    rows = sum(payload.count(b"\n") for _columns, payload in data.values())
    with stopwatch() as elapsed, connection.cursor() as cursor:
        raw = cursor.cursor
        for copy_table, (columns, payload) in data.items():
            with raw.copy(f"COPY {copy_table} ({', '.join(columns)}) FROM STDIN") as copy:
                view = memoryview(payload)
                for start in range(0, len(payload), 1 << 20):
                    copy.write(view[start : start + (1 << 20)])
    with connection.cursor() as cursor:
        for copy_table in tables.values():
            cursor.execute(f"DROP TABLE IF EXISTS {copy_table}")
    return elapsed[0], rows
