"""Postings to the ledger (docs/LEDGER.md).

Every posting locks the wallets it touches first (``SELECT ... FOR UPDATE``, in account id
order), then writes one journal and, in one statement, its entries, new lots, lot counter
changes and cached balances. Lot counters change only under their wallet's lock, so lots
themselves are never locked. The hot paths use raw SQL to keep to a few round trips
(STYLE.md: one ORM call costs about 3x a cursor call in CPU), run as prepared statements
(``prepared_execute``).
"""

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.audit import audit_record
from rewards.models import SYSTEM_ACCOUNT_KINDS, Account, AwardLot, Journal, Participant, Scheme
from rewards.services.errors import (
    IdempotencyConflict,
    InvalidRequest,
    ReversalNotAllowed,
    UnbalancedJournal,
)


def canonical_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a request in canonical JSON (sorted keys, no spaces): the same request
    always hashes the same, so a reused idempotency key with other content is detected."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(text.encode()).hexdigest()


def prepared_execute(sql: str, params: Mapping[str, Any]) -> psycopg.Cursor[Any]:
    """Runs one of the statements every event or spend runs, as a prepared statement on
    Django's connection, and returns the cursor to fetch its rows from.

    Django binds parameters on the client, so PostgreSQL parses and plans every statement
    anew: about a third of the server's time per event went to planning. Here the
    parameters are bound on the server and the statement is prepared on first use per
    connection (psycopg keeps the names); with ``plan_cache_mode = force_generic_plan``
    (config/settings.py) it is planned once, not per execution. Only for statements whose
    plan does not depend on the values: key look-ups and writes by id.

    Errors are Django's (``IntegrityError``, ...), as from ``connection.cursor()``; when
    Django logs queries (DEBUG, ``CaptureQueriesContext``) the statement is logged too.
    """
    [cursor] = prepared_execute_pipelined((sql, params))
    return cursor


def prepared_execute_pipelined(
    *statements: tuple[str, Mapping[str, Any]],
) -> list[psycopg.Cursor[Any]]:
    """Runs ``statements`` as ``prepared_execute`` does, in one round trip (psycopg's pipeline
    mode; with the transaction's ``BEGIN`` when they open it): PostgreSQL runs them one after
    the other, as if sent one by one, and a failing one fails the rest. Returns a cursor
    per statement, to fetch its rows from."""
    connection.ensure_connection()
    raw = connection.connection
    cursors = [psycopg.Cursor(raw) for _statement in statements]
    started = time.monotonic()
    # One statement alone needs no pipeline (its Sync would be one more message).
    together = raw.pipeline() if len(statements) > 1 else nullcontext()
    with connection.wrap_database_errors, together:
        for cursor, (sql, params) in zip(cursors, statements, strict=True):
            cursor.execute(sql, params, prepare=True)
    if connection.queries_logged:
        elapsed = f"{time.monotonic() - started:.3f}"
        for cursor, (sql, params) in zip(cursors, statements, strict=True):
            connection.queries_log.append(
                {"sql": connection.ops.last_executed_query(cursor, sql, params), "time": elapsed}
            )
    return cursors


@dataclass(frozen=True, slots=True)
class ExistingJournal:
    id: int
    kind: str
    request_hash: str
    result: Any
    participant_id: int | None


@dataclass(frozen=True, slots=True)
class LockedWallet:
    """A participant's wallet row, locked until the transaction ends."""

    account_id: int
    balance_minor: int
    allows_negative_balance: bool
    participant_id: int
    participant_status: str
    scheme_id: int
    time_zone: str
    return_policy: str
    client_id: int
    event_processing: str
    segments: frozenset[str]
    birth_date: date | None
    name_day: tuple[int, int] | None
    purchase_count: int
    referred_by_id: int | None
    system_accounts: Mapping[str, int]
    existing_journal: ExistingJournal | None = None

    @property
    def is_effective(self) -> bool:
        return self.participant_status == Participant.Status.EFFECTIVE


# Written out, not a parameter: the prepared statement's one plan can then use the partial
# unique index on the system accounts (with an array parameter it scanned the scheme's accounts).
_SYSTEM_KINDS = ", ".join(f"'{kind}'" for kind in SYSTEM_ACCOUNT_KINDS)

_LOCK_WALLET_SQL = f"""
SELECT a.id, a.balance_minor, a.allows_negative_balance, p.id, p.status, p.scheme_id,
       COALESCE(NULLIF(p.time_zone, ''), s.time_zone), s.return_policy, s.client_id,
       s.event_processing, p.segments, p.birth_date, p.name_day_month, p.name_day_day,
       p.purchase_count, p.referred_by_id,
       (SELECT json_object_agg(x.kind, x.id) FROM rewards_account x
         WHERE x.scheme_id = p.scheme_id AND x.kind IN ({_SYSTEM_KINDS})),
       (SELECT json_build_object('id', j.id, 'kind', j.kind, 'request_hash', j.request_hash,
                                 'result', j.result, 'participant_id', j.participant_id)
          FROM rewards_journal j WHERE j.idempotency_key = %(key)s)
  FROM rewards_account a
  JOIN rewards_participant p ON p.id = a.participant_id
  JOIN rewards_scheme s ON s.id = p.scheme_id
 WHERE a.participant_id = %(participant_id)s
   AND (%(merchant_id)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM rewards_schememerchant m
         WHERE m.scheme_id = p.scheme_id AND m.merchant_id = %(merchant_id)s::bigint))
"""  # noqa: S608 - the kinds are the model's constants

# The lock is taken by its own statement first: in READ COMMITTED a locking statement that
# waited re-reads only the locked row, so participant columns read in the same statement
# (purchase_count, status) could be from before the wait. The next statement, run after the
# lock is held, sees everything committed by the previous holder. The two are sent together
# (pipelined): the server still runs the read only once the lock is held.
_LOCK_WALLET_ROW_SQL = """
SELECT id FROM rewards_account WHERE participant_id = %(participant_id)s AND kind = 'wallet'
   FOR UPDATE
"""


def wallet_lock(
    *,
    participant_id: int,
    merchant_id: int | None = None,
    idempotency_key: str | None = None,
) -> LockedWallet:
    """Locks the participant's wallet and returns it with the scheme's system accounts.

    Call inside a transaction. With ``merchant_id``, only a participant of a scheme that
    merchant takes part in is found. With ``idempotency_key``, the journal already written
    under it (as seen once the lock is held) comes back in ``existing_journal``; a
    concurrent writer of the same key is still caught by the journal's unique key.
    Raises Participant.DoesNotExist.
    """
    _locked, read = prepared_execute_pipelined(
        (_LOCK_WALLET_ROW_SQL, {"participant_id": participant_id}),
        (
            _LOCK_WALLET_SQL,
            {"participant_id": participant_id, "merchant_id": merchant_id, "key": idempotency_key},
        ),
    )
    row = read.fetchone()
    if row is None:
        raise Participant.DoesNotExist(f"No participant {participant_id} here.")
    existing = row[17]
    name_day = (row[12], row[13]) if row[12] is not None and row[13] is not None else None
    return LockedWallet(
        account_id=row[0],
        balance_minor=row[1],
        allows_negative_balance=row[2],
        participant_id=row[3],
        participant_status=row[4],
        scheme_id=row[5],
        time_zone=row[6],
        return_policy=row[7],
        client_id=row[8],
        event_processing=row[9],
        segments=frozenset(_json_value(row[10]) or ()),
        birth_date=row[11],
        name_day=name_day,
        purchase_count=row[14],
        referred_by_id=row[15],
        system_accounts=_as_mapping(row[16]),
        existing_journal=ExistingJournal(**_as_mapping(existing)) if existing else None,
    )


def wallets_lock(*, participant_ids: Iterable[int]) -> dict[int, LockedWallet]:
    """Locks several wallets in account id order (the one lock order, so two postings over
    the same wallets never deadlock). Returns them by participant id."""
    account_ids = list(
        Account.objects.filter(participant_id__in=list(participant_ids))
        .order_by("pk")
        .values_list("participant_id", flat=True)
    )
    return {
        participant_id: wallet_lock(participant_id=participant_id) for participant_id in account_ids
    }


def _json_value(value: Any) -> Any:
    """jsonb arrives as text (Django registers a text loader for it), json already parsed."""
    return json.loads(value) if isinstance(value, str) else value


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return _json_value(value) or {}


def journal_find(*, idempotency_key: str) -> ExistingJournal | None:
    row = (
        Journal.objects.filter(idempotency_key=idempotency_key)
        .values("id", "kind", "request_hash", "result", "participant_id")
        .first()
    )
    return ExistingJournal(**row) if row else None


def replay_or_conflict(existing: ExistingJournal, *, request_hash: str) -> Any:
    """The first result for a replayed request; a reused key with other content is refused."""
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "This idempotency key was already used for a different request; "
            "use a new key for a new request."
        )
    return existing.result


@dataclass(slots=True)
class NewLot:
    account_id: int
    amount_minor: int
    available_from: datetime
    expires_at: datetime | None
    offer_id: int | None = None
    consumed_minor: int = 0
    spend_method: str = "wallet"
    awarded_at: datetime | None = None  # default: the posting's time


@dataclass(slots=True)
class Posting:
    """One journal to write. Entries are (account id, lot, amount); the lot is an existing
    lot id, ``("new", index into new_lots)`` or None. ``balance_changes`` must list every
    wallet whose entries change, with the sum of those entries."""

    scheme_id: int
    kind: str
    idempotency_key: str
    posted_at: datetime
    request_hash: str = ""
    # Stored as the journal's result with the journal's "id" added; replays answer with it.
    participant_id: int | None = None
    merchant_id: int | None = None
    event_id: int | None = None
    reverses_id: int | None = None
    actor_id: int | None = None
    memo: str = ""
    result: Any = None
    # The answer of the event ``event_id`` this posting completes, stored on the event by
    # the same statement (one round trip less per event); None leaves the event alone.
    event_response: Any = None
    new_lots: list[NewLot] = field(default_factory=list)
    entries: list[tuple[int, int | tuple[str, int] | None, int]] = field(default_factory=list)
    lot_changes: dict[int, list[int]] = field(default_factory=dict)  # id: [consumed, exp, rev]
    wallet_deltas: dict[int, int] = field(default_factory=dict)
    negative_allowed_wallets: set[int] = field(default_factory=set)

    def add_entry(self, account_id: int, amount_minor: int, lot: Any = None) -> None:
        if amount_minor:
            self.entries.append((account_id, lot, amount_minor))

    def add_wallet_entry(self, account_id: int, amount_minor: int, lot: Any = None) -> None:
        if amount_minor:
            self.entries.append((account_id, lot, amount_minor))
            self.wallet_deltas[account_id] = self.wallet_deltas.get(account_id, 0) + amount_minor

    def change_lot(
        self, lot_id: int, *, consumed: int = 0, expired: int = 0, reversed_: int = 0
    ) -> None:
        change = self.lot_changes.setdefault(lot_id, [0, 0, 0])
        change[0] += consumed
        change[1] += expired
        change[2] += reversed_


# One statement writes the whole posting: the journal (nothing at all when its idempotency
# key exists already: every other part joins the inserted journal), its new lots (ids drawn
# here; an entry names a new lot by its index in the posting), its entries in the posting's
# order, the lot counter changes, the cached wallet balances and, for a posting that
# completes an event, the event's answer. New lots and entries come as JSON, one parameter
# each instead of an array per column (psycopg's array dumping was a sixth of the request's
# Python time); the two UPDATEs keep arrays, whose small row estimate gives the generic plan
# index look-ups (a JSON set is estimated at 100 rows: a hash join over every account).
_POST_SQL = """
WITH new_journal AS (
    INSERT INTO rewards_journal (id, scheme_id, kind, idempotency_key, request_hash,
                                 participant_id, merchant_id, event_id, reverses_id, actor_id,
                                 memo, result, posted_at)
    SELECT j.id, %(scheme_id)s, %(kind)s, %(key)s, %(request_hash)s, %(participant_id)s,
           %(merchant_id)s, %(event_id)s, %(reverses_id)s, %(actor_id)s, %(memo)s,
           %(result)s::jsonb || jsonb_build_object('id', j.id), %(posted_at)s
      FROM (SELECT nextval(pg_get_serial_sequence('rewards_journal', 'id')) AS id) j
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), lots AS MATERIALIZED (
    SELECT n.*, nextval(pg_get_serial_sequence('rewards_awardlot', 'id')) AS id
      FROM json_to_recordset(%(lots)s::json)
           AS n(i int, account_id bigint, offer_id bigint, amount bigint, consumed bigint,
                spend_method varchar, awarded_at timestamptz, available_from timestamptz,
                expires_at timestamptz)
     WHERE EXISTS (SELECT FROM new_journal)
), new_lots AS (
    INSERT INTO rewards_awardlot (id, account_id, journal_id, offer_id, amount_minor,
                                  consumed_minor, expired_minor, reversed_minor, spend_method,
                                  awarded_at, available_from, expires_at)
    SELECT n.id, n.account_id, j.id, n.offer_id, n.amount, n.consumed, 0, 0, n.spend_method,
           n.awarded_at, n.available_from, n.expires_at
      FROM lots n CROSS JOIN new_journal j
), lot_changes AS (
    UPDATE rewards_awardlot l
       SET consumed_minor = l.consumed_minor + c.consumed,
           expired_minor = l.expired_minor + c.expired,
           reversed_minor = l.reversed_minor + c.reversed
      FROM unnest(%(change_ids)s::bigint[], %(change_consumed)s::bigint[],
                  %(change_expired)s::bigint[], %(change_reversed)s::bigint[])
           AS c(id, consumed, expired, reversed)
     WHERE l.id = c.id AND EXISTS (SELECT FROM new_journal)
), entries AS (
    INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
    SELECT j.id, e.account_id, COALESCE(e.lot_id, n.id), e.amount, %(posted_at)s
      FROM json_to_recordset(%(entries)s::json)
           AS e(i int, account_id bigint, lot_id bigint, new_lot int, amount bigint)
      CROSS JOIN new_journal j
      LEFT JOIN lots n ON n.i = e.new_lot
     ORDER BY e.i
), balances AS (
    UPDATE rewards_account a
       SET balance_minor = a.balance_minor + b.delta,
           allows_negative_balance = a.allows_negative_balance OR b.negative_allowed
      FROM unnest(%(wallet_ids)s::bigint[], %(wallet_deltas)s::bigint[],
                  %(wallet_negative)s::boolean[]) AS b(id, delta, negative_allowed)
     WHERE a.id = b.id AND EXISTS (SELECT FROM new_journal)
    RETURNING a.id, a.balance_minor
), answered AS (
    UPDATE rewards_customerevent SET response = %(event_response)s::jsonb
     WHERE id = %(event_id)s AND %(event_response)s::jsonb IS NOT NULL
       AND EXISTS (SELECT FROM new_journal)
)
-- Data-modifying CTEs all run to completion whether or not the query reads them.
SELECT (SELECT id FROM new_journal),
       (SELECT array_agg(id ORDER BY i) FROM lots),
       (SELECT json_object_agg(id, balance_minor) FROM balances)
"""


@dataclass(frozen=True, slots=True)
class Posted:
    journal_id: int
    lot_ids: list[int]
    balances: dict[int, int]  # wallet account id: balance after


def ledger_post(*, posting: Posting) -> Posted | None:
    """Writes ``posting``. Returns None, writing nothing, when a journal with its
    idempotency key exists already (the caller answers with that journal's result).

    Preconditions: inside a transaction holding the lock of every wallet in the posting
    (wallet_lock); lot changes computed under those locks. Checks here that the entries sum
    to zero; the database checks it again at commit, and refuses a negative wallet balance
    unless the wallet allows one.
    """
    total = sum(amount for _account, _lot, amount in posting.entries)
    if total != 0 or not posting.entries:
        raise UnbalancedJournal(
            f"A {posting.kind} journal must balance; its entries sum to {total}."
        )
    if any(lot.amount_minor <= 0 for lot in posting.new_lots):
        raise InvalidRequest("An award lot needs a positive amount.")
    posted_at = posting.posted_at
    changes = sorted(posting.lot_changes.items())
    deltas = sorted((account, delta) for account, delta in posting.wallet_deltas.items() if delta)
    journal_id, lot_ids, balances = prepared_execute(
        _POST_SQL,
        {
            "scheme_id": posting.scheme_id,
            "kind": posting.kind,
            "key": posting.idempotency_key,
            "request_hash": posting.request_hash,
            "participant_id": posting.participant_id,
            "merchant_id": posting.merchant_id,
            "event_id": posting.event_id,
            "reverses_id": posting.reverses_id,
            "actor_id": posting.actor_id,
            "memo": posting.memo,
            "result": json.dumps(posting.result, cls=DjangoJSONEncoder)
            if posting.result is not None
            else None,
            "posted_at": posted_at,
            "event_response": json.dumps(posting.event_response, cls=DjangoJSONEncoder)
            if posting.event_response is not None
            else None,
            "lots": json.dumps(
                [
                    {
                        "i": index,
                        "account_id": lot.account_id,
                        "offer_id": lot.offer_id,
                        "amount": lot.amount_minor,
                        "consumed": lot.consumed_minor,
                        "spend_method": lot.spend_method,
                        "awarded_at": (lot.awarded_at or posted_at).isoformat(),
                        "available_from": lot.available_from.isoformat(),
                        "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
                    }
                    for index, lot in enumerate(posting.new_lots)
                ]
            ),
            "entries": json.dumps(
                [
                    {
                        "i": index,
                        "account_id": account,
                        "lot_id": None if isinstance(lot, tuple) else lot,
                        "new_lot": lot[1] if isinstance(lot, tuple) else None,
                        "amount": amount,
                    }
                    for index, (account, lot, amount) in enumerate(posting.entries)
                ]
            ),
            "change_ids": [lot_id for lot_id, _change in changes],
            "change_consumed": [change[0] for _lot_id, change in changes],
            "change_expired": [change[1] for _lot_id, change in changes],
            "change_reversed": [change[2] for _lot_id, change in changes],
            "wallet_ids": [account for account, _delta in deltas],
            "wallet_deltas": [delta for _account, delta in deltas],
            "wallet_negative": [
                account in posting.negative_allowed_wallets for account, _delta in deltas
            ],
        },
    ).fetchone()
    if journal_id is None:
        return None
    return Posted(
        journal_id=journal_id,
        lot_ids=list(lot_ids or ()),
        balances={int(account): balance for account, balance in _as_mapping(balances).items()},
    )


def scheme_accounts_ensure(*, scheme: Scheme) -> None:
    """Creates the scheme's system accounts if missing (safe to call concurrently)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO rewards_account (scheme_id, kind, allows_negative_balance, created_at)
            SELECT %s, kind, false, now() FROM unnest(%s::varchar[]) AS kind
            ON CONFLICT DO NOTHING
            """,
            [scheme.pk, list(SYSTEM_ACCOUNT_KINDS)],
        )


# Lots a wallet can spend from at a moment, soonest to expire first (never-expiring last).
_SPENDABLE_LOTS_SQL = """
SELECT l.id, l.amount_minor - l.consumed_minor - l.expired_minor - l.reversed_minor,
       o.rules -> 'spend_conditions'
  FROM rewards_awardlot l
  LEFT JOIN rewards_offer o ON o.id = l.offer_id
 WHERE l.account_id = %(account_id)s
   AND (l.expires_at IS NULL OR l.expires_at > %(at)s)
   AND l.available_from <= %(at)s
   AND l.amount_minor > l.consumed_minor + l.expired_minor + l.reversed_minor
 ORDER BY l.expires_at ASC NULLS LAST, l.available_from, l.id
"""


@dataclass(frozen=True, slots=True)
class OpenLot:
    id: int
    remaining_minor: int
    spend_conditions: Any


def lots_spendable(*, account_id: int, at: datetime) -> list[OpenLot]:
    """Lots of a locked wallet that can be spent at ``at``, in spending order."""
    cursor = prepared_execute(_SPENDABLE_LOTS_SQL, {"account_id": account_id, "at": at})
    return [OpenLot(row[0], row[1], _as_mapping(row[2]) or None) for row in cursor]


def lots_open(*, account_id: int) -> list[AwardLot]:
    """Every lot of a locked wallet with something left, in spending order (clawbacks and
    transfers take from pending and not yet expired-by-the-run lots too)."""
    return list(
        AwardLot.objects.filter(
            account_id=account_id,
            amount_minor__gt=F("consumed_minor") + F("expired_minor") + F("reversed_minor"),
        ).order_by("expires_at", "available_from", "pk")
    )


def pending_minor(*, account_id: int, at: datetime) -> int:
    """What lots not yet available at ``at`` still hold."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(sum(amount_minor - consumed_minor - expired_minor - reversed_minor), 0)
              FROM rewards_awardlot
             WHERE account_id = %s AND available_from > %s
               AND (expires_at IS NULL OR expires_at > %s)
            """,
            [account_id, at, at],
        )
        return int(cursor.fetchone()[0])


# ---------------------------------------------------------------------------- reversal


def journal_reverse(*, journal: Journal, actor: Any, reason: str) -> Journal:
    """Posts the exact opposite of an award or spend journal and undoes its lot effects.

    An award can be reversed only while none of its lots was spent, expired or taken back
    (a refund is the way to take back part of an award); a spend's reversal gives its lots
    back what it consumed. Refused for other kinds and for a journal already reversed.
    """
    if journal.kind not in (Journal.Kind.AWARD, Journal.Kind.SPEND):
        raise ReversalNotAllowed(f"A {journal.get_kind_display()} journal cannot be reversed.")
    if not reason.strip():
        raise InvalidRequest("Give a reason for the reversal.")
    with transaction.atomic():
        wallet_ids = sorted(
            set(
                journal.entries.filter(account__kind=Account.Kind.WALLET).values_list(
                    "account__participant_id", flat=True
                )
            )
        )
        wallets = wallets_lock(participant_ids=wallet_ids)
        if Journal.objects.filter(reverses=journal).exists():
            raise ReversalNotAllowed("This journal has been reversed already.")
        now = timezone.now()
        posting = Posting(
            scheme_id=journal.scheme_id,
            kind=Journal.Kind.REVERSAL,
            idempotency_key=f"reversal:{journal.pk}",
            posted_at=now,
            participant_id=journal.participant_id,
            merchant_id=journal.merchant_id,
            reverses_id=journal.pk,
            actor_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
            memo=reason[:200],
        )
        entries = list(journal.entries.select_related("account", "lot").order_by("pk"))
        lots = {entry.lot_id: entry.lot for entry in entries if entry.lot is not None}
        if journal.kind == Journal.Kind.AWARD:
            lot_net: dict[int, int] = defaultdict(int)
            for entry in entries:
                if entry.lot_id is not None:
                    lot_net[entry.lot_id] += entry.amount_minor
            for lot_id, net in lot_net.items():
                lot = lots[lot_id]
                untouched = lot.consumed_minor == lot.amount_minor - net and not (
                    lot.expired_minor or lot.reversed_minor
                )
                if not untouched:
                    raise ReversalNotAllowed(
                        f"Lot {lot_id} of this award was spent, expired or taken back since; "
                        "it can no longer be reversed."
                    )
                if net:
                    posting.change_lot(lot_id, reversed_=net)
        debt = {wallet.account_id: max(0, -wallet.balance_minor) for wallet in wallets.values()}
        for entry in entries:
            if entry.account.kind == Account.Kind.WALLET:
                posting.add_wallet_entry(entry.account_id, -entry.amount_minor, entry.lot_id)
                if journal.kind == Journal.Kind.SPEND and entry.lot_id is not None:
                    # A spend's reversal credits the wallet. If a clawback overdrew it since,
                    # the credit first pays back that debt (as a later award does): only what
                    # ends above zero re-opens the spent lots, the rest stays consumed
                    # (recovered against the debt), taken in the spend's order (soonest to
                    # expire first). Else the open lots would exceed the balance.
                    given_back = -entry.amount_minor
                    recovered = min(debt[entry.account_id], given_back)
                    debt[entry.account_id] -= recovered
                    if given_back > recovered:
                        posting.change_lot(entry.lot_id, consumed=recovered - given_back)
            else:
                posting.add_entry(entry.account_id, -entry.amount_minor)
        posted = ledger_post(posting=posting)
        if posted is None:
            raise ReversalNotAllowed("This journal has been reversed already.")
        if journal.kind == Journal.Kind.AWARD:
            _release_budgets(journal=journal, lots=lots.values())
        reversal = Journal.objects.get(pk=posted.journal_id)
        audit_record(
            action="ledger.reverse",
            actor=actor,
            target=journal,
            after={"reversal_journal": reversal.pk, "reason": reason},
        )
    return reversal


def _release_budgets(*, journal: Journal, lots: Iterable[AwardLot]) -> None:
    from rewards.services.offers import offer_budget_release

    per_offer: dict[int, int] = defaultdict(int)
    for lot in lots:
        if lot.offer_id is not None:
            per_offer[lot.offer_id] += lot.amount_minor
    for offer_id, amount in sorted(per_offer.items()):
        offer_budget_release(offer_id=offer_id, amount_minor=amount)


# ---------------------------------------------------------------------------- expiration


_EXPIRE_SQL = """
WITH due AS (
    SELECT l.id, l.account_id,
           l.amount_minor - l.consumed_minor - l.expired_minor - l.reversed_minor AS remaining
      FROM rewards_awardlot l
     WHERE l.account_id = ANY(%(account_ids)s::bigint[])
       AND l.expires_at <= %(at)s
       AND l.amount_minor > l.consumed_minor + l.expired_minor + l.reversed_minor
), expired AS (
    -- The wallets' condition again: the lots are then found through the wallet index, not
    -- by a hash join over the whole lot table (a sequential scan of it per chunk).
    UPDATE rewards_awardlot l SET expired_minor = l.expired_minor + due.remaining
      FROM due WHERE l.id = due.id AND l.account_id = ANY(%(account_ids)s::bigint[])
    RETURNING due.account_id, due.id, due.remaining
), per_wallet AS (
    SELECT account_id, sum(remaining)::bigint AS total, min(id) AS first_lot
      FROM expired GROUP BY account_id
), journals AS (
    INSERT INTO rewards_journal (scheme_id, kind, idempotency_key, request_hash, participant_id,
                                 memo, posted_at)
    SELECT a.scheme_id, 'expiration',
           'expiration:' || a.id || ':' || pw.first_lot || ':' || pw.total || ':'
               || %(at_key)s,
           '', a.participant_id, '', %(now)s
      FROM per_wallet pw JOIN rewards_account a ON a.id = pw.account_id
    RETURNING id, participant_id
), wallet_entries AS (
    INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
    SELECT j.id, a.id, NULL, -pw.total, %(now)s
      FROM journals j
      JOIN rewards_account a ON a.participant_id = j.participant_id
      JOIN per_wallet pw ON pw.account_id = a.id
    RETURNING 1
), system_entries AS (
    INSERT INTO rewards_entry (journal_id, account_id, lot_id, amount_minor, posted_at)
    SELECT j.id, x.id, NULL, pw.total, %(now)s
      FROM journals j
      JOIN rewards_account a ON a.participant_id = j.participant_id
      JOIN per_wallet pw ON pw.account_id = a.id
      JOIN rewards_account x ON x.scheme_id = a.scheme_id AND x.kind = 'points_expired'
    RETURNING 1
), balances AS (
    UPDATE rewards_account a SET balance_minor = a.balance_minor - pw.total
      FROM per_wallet pw WHERE a.id = pw.account_id
    RETURNING pw.total
)
SELECT count(*), COALESCE(sum(total), 0)::bigint FROM balances
"""


@dataclass(frozen=True, slots=True)
class ExpirationResult:
    wallets: int
    amount_minor: int


def lots_expire(
    *, scheme_id: int, at: datetime, chunk_size: int = 5000, after_account_id: int = 0
) -> ExpirationResult:
    """Expires what is left of every lot of the scheme whose ``expires_at`` is at or before
    ``at``: one journal per wallet, set-based, one transaction per chunk of wallets.

    Safe to run again and concurrently with itself: lots expired by a committed chunk are not
    due any more, and a chunk locks its wallets (in id order) before reading what is due.
    """
    wallets = 0
    amount = 0
    cursor_id = after_account_id
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # The next wallets with something due, locked in id order, in one statement: a
            # wallet's first due lot (wallet expiry index) is enough to pick it, so the lots
            # are read once, by the UPDATE below, which runs after the locks are held.
            cursor.execute(
                """
                SELECT a.id FROM rewards_account a
                 WHERE a.scheme_id = %s AND a.kind = 'wallet' AND a.id > %s
                   AND EXISTS (
                       SELECT 1 FROM rewards_awardlot l
                        WHERE l.account_id = a.id AND l.expires_at <= %s
                          AND l.amount_minor > l.consumed_minor + l.expired_minor
                                               + l.reversed_minor)
                 ORDER BY a.id LIMIT %s
                   FOR UPDATE
                """,
                [scheme_id, cursor_id, at, chunk_size],
            )
            account_ids = [row[0] for row in cursor.fetchall()]
            if not account_ids:
                break
            cursor.execute(
                _EXPIRE_SQL,
                {
                    "account_ids": account_ids,
                    "at": at,
                    "at_key": at.isoformat(),
                    "now": timezone.now(),
                },
            )
            count, total = cursor.fetchone()
            wallets += count
            amount += total
            cursor_id = account_ids[-1]
    return ExpirationResult(wallets=wallets, amount_minor=amount)


def consumption_plan(
    lots: Sequence[OpenLot], amount_minor: int
) -> tuple[list[tuple[int, int]], int]:
    """Takes ``amount_minor`` from ``lots`` in their order: [(lot id, taken)], and what could
    not be covered."""
    plan: list[tuple[int, int]] = []
    left = amount_minor
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining_minor, left)
        if take > 0:
            plan.append((lot.id, take))
            left -= take
    return plan, left
