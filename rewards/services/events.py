"""Customer events: received once per (source, external_id), evaluated against the scheme's
effective offers, awarded through the ledger; refunds claw back under the return policy."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from rewards.evaluation import EVENT_TYPE_BY_CLASSIFICATION as _EVENT_TYPE_BY_CLASSIFICATION
from rewards.evaluation import (
    AwardLine,
    EventFacts,
    EventLine,
    OfferRules,
    ParticipantFacts,
    cap_period_start,
    evaluate,
    parse_offer_rules,
)
from rewards.models import AwardLot, CustomerEvent, Journal, Merchant, Participant, Scheme
from rewards.services.errors import (
    IdempotencyConflict,
    InvalidRequest,
    ParticipantNotEffective,
)
from rewards.services.ledger import (
    LockedWallet,
    NewLot,
    OpenLot,
    Posting,
    canonical_hash,
    consumption_plan,
    ledger_post,
    lots_open,
    lots_spendable,
    prepared_execute,
    wallet_lock,
)
from rewards.services.offers import offer_budgets_take
from rewards.services.spends import spend_at_purchase

SYSTEM_SOURCE = "system"


@dataclass(frozen=True, slots=True)
class LineInput:
    product: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class EventInput:
    """A customer event as received (validated for shape by the API serializer)."""

    source: str
    external_id: str
    type: str
    participant_id: int
    occurred_at: datetime
    merchant: Merchant | None = None
    lines: tuple[LineInput, ...] = ()
    total_minor: int = 0
    payment_medium: str | None = None
    area: str | None = None
    achievement_code: str | None = None
    original_external_id: str | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "external_id": self.external_id,
            "type": self.type,
            "participant": self.participant_id,
            "merchant": self.merchant.code if self.merchant is not None else None,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "lines": [
                {
                    "product": line.product,
                    "quantity": line.quantity,
                    "amount_minor": line.amount_minor,
                }
                for line in self.lines
            ],
            "total_minor": self.total_minor,
            "payment_medium": self.payment_medium,
            "area": self.area,
            "achievement_code": self.achievement_code,
            "original_external_id": self.original_external_id,
        }


def _json_value(value: Any) -> Any:
    """json arrives parsed; jsonb as text (Django registers a text loader for it)."""
    return json.loads(value) if isinstance(value, str) else value


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _existing_event(source: str, external_id: str) -> tuple[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload_hash, response FROM rewards_customerevent "
            "WHERE source = %s AND external_id = %s",
            [source, external_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    response = json.loads(row[1]) if isinstance(row[1], str) else row[1]
    return row[0], response


def _replay(existing: tuple[str, Any], payload_hash: str) -> dict[str, Any]:
    stored_hash, response = existing
    if stored_hash != payload_hash:
        raise IdempotencyConflict(
            "An event with this source and external_id was already received with different "
            "content. Send a new external_id for a new event."
        )
    return response


def event_submit(*, event: EventInput, queue: bool | None = None) -> tuple[dict[str, Any], bool]:
    """Receives a customer event; returns (response, created).

    A replay (same source and external_id, same content) returns the first response with
    created False and posts nothing; other content under the same key raises
    IdempotencyConflict. With a merchant, only participants of schemes that merchant takes
    part in are found (else Participant.DoesNotExist). The event is processed now unless
    ``queue`` (default: the scheme's event processing setting) holds it for the evaluation
    run; a refund is always processed now.

    Round trips for a purchase: the wallet lock (two statements and the BEGIN, sent
    together), one statement that inserts the event (ON CONFLICT DO NOTHING: a replay finds
    the stored answer then), counts the purchase and reads the effective offers, the
    automatic-spend setting and the cap sums, the budget, and the posting, which stores the
    answer too (else one more statement); then the commit.
    """
    _validate(event)
    payload = event.canonical()
    payload_hash = canonical_hash(payload)
    with transaction.atomic():
        try:
            wallet = wallet_lock(
                participant_id=event.participant_id,
                merchant_id=event.merchant.pk if event.merchant is not None else None,
            )
        except Participant.DoesNotExist:
            existing = _existing_event(event.source, event.external_id)
            if existing is not None:
                return _replay(existing, payload_hash), False
            raise
        if not wallet.is_effective:
            existing = _existing_event(event.source, event.external_id)
            if existing is not None:
                return _replay(existing, payload_hash), False
            raise ParticipantNotEffective("This participant has been terminated.")
        original = None
        if event.type == CustomerEvent.Type.REFUND:
            original = _original_purchase(event)
        now = timezone.now()
        if queue is None:
            queue = wallet.event_processing == Scheme.EventProcessing.QUEUED
        queue = queue and event.type != CustomerEvent.Type.REFUND
        inserted = _insert_event(
            event=event,
            wallet=wallet,
            payload=payload,
            payload_hash=payload_hash,
            received_at=now,
            original_id=original[0] if original else None,
            queued=queue,
        )
        if inserted is None:
            # Received before (or by a concurrent request): a replay or a conflict.
            existing = _existing_event(event.source, event.external_id)
            assert existing is not None  # noqa: S101 - the insert just conflicted on it
            return _replay(existing, payload_hash), False
        event_id, offers, auto_spend, awarded = inserted
        if queue:
            response = {"id": event_id, "status": "queued", "awards": []}
        elif original is not None:
            response = _refund(event=event, event_id=event_id, wallet=wallet, original=original)
        else:
            spendable = (
                lots_spendable(account_id=wallet.account_id, at=now)
                if auto_spend and wallet.balance_minor > 0
                else []
            )
            # Without an automatic spend to add, the award's posting stores the answer.
            response, stored = _award(
                event=event,
                event_id=event_id,
                wallet=wallet,
                received_at=now,
                offers=offers,
                awarded_in_period=awarded,
                store_response=not spendable,
            )
            if spendable:
                _spend_at_purchase(event, event_id, wallet, spendable, response, now)
            if stored:
                return response, True
        _store_response(event_id, response, processed_at=None if queue else now)
    return response, True


def _spend_at_purchase(
    event: EventInput,
    event_id: int,
    wallet: LockedWallet,
    lots: list[OpenLot],
    response: dict[str, Any],
    at: datetime,
) -> None:
    """Pays what the wallet had before the purchase towards what is left of its total after
    instant discounts, in the same transaction; the response lists it."""
    assert event.merchant is not None  # noqa: S101 - automatic spend needs the merchant
    spent = spend_at_purchase(
        wallet=wallet,
        lots=lots,
        merchant=event.merchant,
        product_codes={line.product for line in event.lines},
        amount_cap_minor=event.total_minor - response.get("instant_discount_minor", 0),
        idempotency_key=f"event:{event_id}:automatic_spend",
        at=at,
    )
    if spent is not None:
        response["automatic_spend"] = {
            "journal": spent["journal"],
            "amount_minor": spent["amount_minor"],
        }
        response["balance_minor"] = spent["balance_minor"]


def occasion_events_raise(*, now: datetime | None = None) -> int:
    """Raises the birthday and name-day events of every effective participant whose day it
    is today in their own time zone (Feb 29 falls on Feb 28 in common years), in schemes
    with an effective offer for the occasion. Run daily (beat): each local date is "today"
    in exactly one run. Idempotent: the key is the occasion, the participant and the local
    year, so running it again the same day raises nothing new. Returns how many were new."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_OCCASIONS_SQL, {"now": now})
        rows = cursor.fetchall()
    raised = 0
    for participant_id, occasion, year, local_midnight in rows:
        try:
            _response, created = event_submit(
                event=EventInput(
                    source=SYSTEM_SOURCE,
                    external_id=f"{occasion}:{participant_id}:{year}",
                    type=occasion,
                    participant_id=participant_id,
                    # Local midnight, not the clock: the same day raises the same event.
                    occurred_at=local_midnight,
                )
            )
        except ParticipantNotEffective:
            continue  # terminated since the query
        raised += created
    return raised


_OCCASIONS_SQL = """
WITH people AS (
    SELECT p.id, p.scheme_id, p.birth_date, p.name_day_month, p.name_day_day,
           COALESCE(NULLIF(p.time_zone, ''), s.time_zone) AS zone,
           (%(now)s::timestamptz AT TIME ZONE COALESCE(NULLIF(p.time_zone, ''), s.time_zone))::date
               AS today
      FROM rewards_participant p JOIN rewards_scheme s ON s.id = p.scheme_id
     WHERE p.status = 'effective'
       AND (p.birth_date IS NOT NULL OR p.name_day_month IS NOT NULL)
), occasions AS (
    SELECT id, scheme_id, zone, today, 'birthday' AS occasion,
           extract(month FROM birth_date)::int AS month, extract(day FROM birth_date)::int AS day
      FROM people WHERE birth_date IS NOT NULL
    UNION ALL
    SELECT id, scheme_id, zone, today, 'name_day', name_day_month, name_day_day
      FROM people WHERE name_day_month IS NOT NULL AND name_day_day IS NOT NULL
), dated AS (
    SELECT o.*, extract(year FROM today)::int AS year, extract(month FROM today)::int AS t_month,
           extract(day FROM today)::int AS t_day
      FROM occasions o
)
SELECT d.id, d.occasion, d.year, d.today::timestamp AT TIME ZONE d.zone
  FROM dated d
 WHERE ((d.month = d.t_month AND d.day = d.t_day)
        OR (d.month = 2 AND d.day = 29 AND d.t_month = 2 AND d.t_day = 28
            AND NOT (d.year %% 4 = 0 AND (d.year %% 100 <> 0 OR d.year %% 400 = 0))))
   AND EXISTS (SELECT 1 FROM rewards_offer f
                WHERE f.scheme_id = d.scheme_id AND f.status = 'effective'
                  AND f.classification = d.occasion)
 ORDER BY d.id, d.occasion
"""


def event_raise(
    *,
    participant: Any,
    type: str,
    external_id: str,
    occurred_at: datetime,
    merchant: Merchant | None = None,
) -> dict[str, Any]:
    """Raises a system event for a participant (sign-up, referral, birthday, name day).
    Idempotent on ``external_id``."""
    response, _created = event_submit(
        event=EventInput(
            source=SYSTEM_SOURCE,
            external_id=external_id,
            type=type,
            participant_id=participant.pk,
            occurred_at=occurred_at,
            merchant=None,
            area=merchant.area or None if merchant is not None else None,
        )
    )
    return response


def event_process(*, event_id: int) -> dict[str, Any] | None:
    """Evaluates one queued event (the evaluation run calls this). Returns its response, or
    None when another worker holds it or it was processed already."""
    with transaction.atomic():
        row = (
            CustomerEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=event_id, status=CustomerEvent.Status.QUEUED)
            .select_related("merchant")
            .first()
        )
        if row is None:
            return None
        wallet = wallet_lock(participant_id=row.participant_id)
        payload = row.payload
        event = EventInput(
            source=row.source,
            external_id=row.external_id,
            type=row.type,
            participant_id=row.participant_id,
            occurred_at=row.occurred_at,
            merchant=row.merchant,
            lines=tuple(LineInput(**line) for line in payload.get("lines", [])),
            total_minor=row.total_minor,
            payment_medium=payload.get("payment_medium"),
            area=payload.get("area"),
            achievement_code=payload.get("achievement_code"),
        )
        now = timezone.now()
        if wallet.is_effective and row.type == CustomerEvent.Type.PURCHASE:
            _count_purchase(wallet.participant_id)
        if wallet.is_effective:
            response, _stored = _award(
                event=event, event_id=row.pk, wallet=wallet, received_at=row.received_at
            )
        else:
            response = {"id": row.pk, "status": "processed", "awards": [], "balance_minor": None}
        _store_response(row.pk, response, processed_at=now)
    return response


def events_process_queued(*, scheme_id: int, limit: int = 1000) -> int:
    """Processes up to ``limit`` queued events of a scheme, oldest first; returns how many.
    Workers running this at once share the queue (rows already taken are skipped)."""
    ids = list(
        CustomerEvent.objects.filter(scheme_id=scheme_id, status=CustomerEvent.Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for event_id in ids if event_process(event_id=event_id) is not None)


def _validate(event: EventInput) -> None:
    if event.type not in CustomerEvent.Type.values:
        raise InvalidRequest(f"Unknown event type {event.type!r}.")
    if event.total_minor < 0 or any(
        line.quantity <= 0 or line.amount_minor < 0 for line in event.lines
    ):
        raise InvalidRequest("Amounts cannot be negative and quantities must be positive.")
    if event.type == CustomerEvent.Type.REFUND:
        if not event.original_external_id:
            raise InvalidRequest("A refund names the purchase it refunds (original_external_id).")
        if event.total_minor <= 0:
            raise InvalidRequest("A refund needs a positive total_minor.")
    elif event.original_external_id:
        raise InvalidRequest("Only a refund names an original purchase.")


def _original_purchase(event: EventInput) -> tuple[int, int]:
    """(id, total) of the processed purchase a refund refers to, from the same source."""
    row = (
        CustomerEvent.objects.filter(
            source=event.source,
            external_id=event.original_external_id,
            participant_id=event.participant_id,
            type=CustomerEvent.Type.PURCHASE,
        )
        .values_list("pk", "total_minor", "status")
        .first()
    )
    if row is None:
        raise InvalidRequest("No purchase of this participant has that original_external_id.")
    if row[2] != CustomerEvent.Status.PROCESSED:
        raise InvalidRequest("The refunded purchase has not been evaluated yet; try later.")
    return row[0], row[1]


_INSERT_EVENT_SQL = """
WITH inserted AS (
    INSERT INTO rewards_customerevent (scheme_id, participant_id, merchant_id, source,
        external_id, type, occurred_at, received_at, total_minor, original_event_id,
        clawback_demanded_minor, payload, payload_hash, status, processed_at)
    VALUES (%(scheme)s, %(participant)s, %(merchant)s, %(source)s, %(external_id)s, %(type)s,
            %(occurred_at)s, %(received_at)s, %(total)s, %(original)s, 0, %(payload)s::jsonb,
            %(payload_hash)s, %(status)s, %(processed_at)s)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id
), counted AS (
    -- The purchase count feeds "every Nth purchase": only a new event counts.
    UPDATE rewards_participant SET purchase_count = purchase_count + 1
     WHERE id = %(participant)s AND %(count)s AND EXISTS (SELECT 1 FROM inserted)
)
SELECT (SELECT id FROM inserted),
       CASE WHEN %(want_offers)s THEN (
           SELECT json_agg(json_build_array(o.id, o.code, o.classification, o.rules::text,
                                            o.budget_total_minor - o.budget_used_minor)
                           ORDER BY o.id)
             FROM rewards_offer o
            WHERE o.scheme_id = %(scheme)s AND o.status = 'effective'
              AND o.classification = ANY(%(classifications)s)) END,
       CASE WHEN %(want_auto_spend)s THEN (
           SELECT p.allows_automatic_spend AND m.allows_automatic_spend
             FROM rewards_participant p
             JOIN rewards_schememerchant m
               ON m.scheme_id = p.scheme_id AND m.merchant_id = %(merchant)s
            WHERE p.id = %(participant)s) END,
       -- What the participant was awarded per capped offer since each cap period's start,
       -- for the capped offers this process saw last time (checked against the offers read
       -- here before use). A lot counts at the time of the event that earned it.
       CASE WHEN cardinality(%(cap_offers)s::bigint[]) > 0 THEN (
           SELECT json_agg(json_build_array(v.offer_id, (
                      SELECT COALESCE(sum(l.amount_minor), 0)
                        FROM rewards_awardlot l
                       WHERE l.account_id = %(account)s AND l.offer_id = v.offer_id
                         AND (v.since IS NULL OR l.awarded_at >= v.since))))
             FROM unnest(%(cap_offers)s::bigint[], %(cap_since)s::timestamptz[])
                  AS v(offer_id, since)) END
"""

# The effective offers last read per (scheme, event type) in this process: only a guess
# of which offers are capped, so the cap sums can be read with the event's insert; the
# offers read by that same statement decide whether the guess held (_caps_if_current).
_offers_seen: dict[tuple[int, str], tuple["_OfferRow", ...]] = {}


def _insert_event(
    *,
    event: EventInput,
    wallet: LockedWallet,
    payload: Mapping[str, Any],
    payload_hash: str,
    received_at: datetime,
    original_id: int | None,
    queued: bool,
) -> tuple[int, list["_OfferRow"], bool, dict[int, int] | None] | None:
    """Inserts the event (None when its key exists already) and, in the same statement,
    reads what processing it needs: the scheme's effective offers for its type (their
    rules parsed once per process, keyed by the rules' text) and whether a purchase pays
    from the wallet automatically (``automatic_spend_allowed``)."""
    processed_now = not queued and event.type != CustomerEvent.Type.REFUND
    classifications = _classifications(event.type)
    merchant_id = event.merchant.pk if event.merchant is not None else None
    seen_capped = [
        offer
        for offer in _offers_seen.get((wallet.scheme_id, event.type), ())
        if offer.rules.participant_cap is not None
    ]
    if not processed_now:
        seen_capped = []
    cursor = prepared_execute(
        _INSERT_EVENT_SQL,
        {
            "scheme": wallet.scheme_id,
            "participant": wallet.participant_id,
            "merchant": merchant_id,
            "source": event.source,
            "external_id": event.external_id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "total": event.total_minor,
            "original": original_id,
            "payload": json.dumps(payload, cls=DjangoJSONEncoder),
            "payload_hash": payload_hash,
            "status": CustomerEvent.Status.QUEUED if queued else CustomerEvent.Status.PROCESSED,
            "processed_at": None if queued else received_at,
            "count": event.type == CustomerEvent.Type.PURCHASE and not queued,
            "want_offers": processed_now and bool(classifications),
            "classifications": classifications,
            "want_auto_spend": processed_now
            and event.type == CustomerEvent.Type.PURCHASE
            and merchant_id is not None
            and wallet.balance_minor > 0,
            "cap_offers": [offer.id for offer in seen_capped],
            "cap_since": [
                cap_period_start(offer.rules, event.occurred_at, wallet.time_zone)
                for offer in seen_capped
            ],
            "account": wallet.account_id,
        },
    )
    event_id, offers, auto_spend, caps = cursor.fetchone()
    if event_id is None:
        return None
    rows = tuple(
        _OfferRow(row[0], row[1], row[4], _parsed_rules(row[0], row[2], row[3]))
        for row in _json_value(offers) or ()
    )
    if processed_now:
        _offers_seen[(wallet.scheme_id, event.type)] = rows
    awarded = _caps_if_current(rows, seen_capped, _json_value(caps) or ())
    return event_id, list(rows), bool(auto_spend), awarded


def _caps_if_current(
    offers: Sequence["_OfferRow"], seen_capped: Sequence["_OfferRow"], caps: Sequence[Any]
) -> dict[int, int] | None:
    """The cap sums read with the insert, if they were read for exactly the capped offers
    (same rules) now effective; else None, and _award reads them itself."""
    capped = [offer for offer in offers if offer.rules.participant_cap is not None]
    if [(o.id, o.rules) for o in capped] != [(o.id, o.rules) for o in seen_capped]:
        return None
    return {int(offer_id): int(total) for offer_id, total in caps}


_STORE_RESPONSE_SQL = """
UPDATE rewards_customerevent
   SET response = %(response)s::jsonb,
       clawback_demanded_minor = %(clawback_demanded)s,
       status = CASE WHEN %(processed_at)s::timestamptz IS NULL THEN status ELSE 'processed' END,
       processed_at = COALESCE(%(processed_at)s::timestamptz, processed_at)
 WHERE id = %(event_id)s
"""


def _store_response(
    event_id: int, response: Mapping[str, Any], *, processed_at: datetime | None
) -> None:
    prepared_execute(
        _STORE_RESPONSE_SQL,
        {
            "response": json.dumps(response, cls=DjangoJSONEncoder),
            "clawback_demanded": response.get("clawback_demanded_minor", 0),
            "processed_at": processed_at,
            "event_id": event_id,
        },
    )


# ---------------------------------------------------------------------------- awards


@lru_cache(maxsize=4096)
def _parsed_rules(offer_id: int, classification: str, rules_text: str) -> OfferRules:
    return parse_offer_rules(offer_id, classification, json.loads(rules_text))


@dataclass(frozen=True, slots=True)
class _OfferRow:
    id: int
    code: str
    budget_left: int | None
    rules: OfferRules


@lru_cache(maxsize=64)
def _classifications_cached(event_type: str) -> tuple[str, ...]:
    return tuple(
        classification
        for classification, triggered_by in _EVENT_TYPE_BY_CLASSIFICATION.items()
        if triggered_by == event_type
    )


def _classifications(event_type: str) -> list[str]:
    """The offer classifications an event of this type triggers."""
    return list(_classifications_cached(event_type))


def _effective_offers(scheme_id: int, event_type: str) -> list[_OfferRow]:
    classifications = _classifications(event_type)
    if not classifications:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, code, classification, rules::text,
                   budget_total_minor - budget_used_minor
              FROM rewards_offer
             WHERE scheme_id = %s AND status = 'effective' AND classification = ANY(%s)
             ORDER BY id
            """,
            [scheme_id, classifications],
        )
        return [
            _OfferRow(row[0], row[1], row[4], _parsed_rules(row[0], row[2], row[3]))
            for row in cursor.fetchall()
        ]


def _awarded_in_period(
    wallet: LockedWallet, offers: Sequence[_OfferRow], at: datetime
) -> dict[int, int]:
    """What this participant was awarded per capped offer since each cap period's start.
    A lot counts at the time of the event that earned it (``awarded_at``)."""
    capped = [offer for offer in offers if offer.rules.participant_cap is not None]
    if not capped:
        return {}
    starts = [cap_period_start(offer.rules, at, wallet.time_zone) for offer in capped]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT v.offer_id, COALESCE(sum(l.amount_minor), 0)::bigint
              FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(offer_id, since)
              LEFT JOIN rewards_awardlot l
                ON l.account_id = %s AND l.offer_id = v.offer_id
               AND (v.since IS NULL OR l.awarded_at >= v.since)
             GROUP BY v.offer_id
            """,
            [[offer.id for offer in capped], starts, wallet.account_id],
        )
        return dict(cursor.fetchall())


def _event_facts(
    event: EventInput, wallet: LockedWallet, received_at: datetime, offers: Sequence[_OfferRow]
) -> EventFacts:
    """The event as evaluation reads it. Product categories and merchant groups are looked
    up only when an offer's conditions name some (one query each)."""
    lines: tuple[EventLine, ...] = ()
    group_codes: frozenset[str] = frozenset()
    needs_categories = any(offer.rules.conditions.categories for offer in offers)
    needs_groups = any(offer.rules.conditions.merchant_groups for offer in offers)
    if event.lines:
        categories = (
            _product_categories(wallet.client_id, {line.product for line in event.lines})
            if needs_categories
            else {}
        )
        lines = tuple(
            EventLine(
                product_code=line.product,
                category_codes=categories.get(line.product, frozenset()),
                quantity=line.quantity,
                amount_minor=line.amount_minor,
            )
            for line in event.lines
        )
    if event.merchant is not None and needs_groups:
        group_codes = frozenset(event.merchant.groups.values_list("code", flat=True))
    return EventFacts(
        type=event.type,
        occurred_at=event.occurred_at,
        received_at=received_at,
        merchant_code=event.merchant.code if event.merchant is not None else None,
        merchant_group_codes=group_codes,
        payment_medium=event.payment_medium,
        area=event.area or (event.merchant.area if event.merchant is not None else None) or None,
        lines=lines,
        total_minor=event.total_minor,
        achievement_code=event.achievement_code,
    )


def _product_categories(client_id: int, codes: set[str]) -> dict[str, frozenset[str]]:
    """Each known product's category codes, with the families above them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE direct AS (
                SELECT p.code AS product, c.id, c.code, c.parent_id
                  FROM rewards_product p
                  JOIN rewards_product_categories pc ON pc.product_id = p.id
                  JOIN rewards_productcategory c ON c.id = pc.productcategory_id
                 WHERE p.client_id = %s AND p.code = ANY(%s)
                UNION
                SELECT d.product, c.id, c.code, c.parent_id
                  FROM direct d JOIN rewards_productcategory c ON c.id = d.parent_id
            )
            SELECT product, array_agg(DISTINCT code) FROM direct GROUP BY product
            """,
            [client_id, sorted(codes)],
        )
        return {row[0]: frozenset(row[1]) for row in cursor.fetchall()}


def _award(
    *,
    event: EventInput,
    event_id: int,
    wallet: LockedWallet,
    received_at: datetime,
    offers: Sequence[_OfferRow] | None = None,
    awarded_in_period: dict[int, int] | None = None,
    store_response: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Evaluates the event for the locked wallet and posts what it earns (``offers``: the
    scheme's effective offers for the event's type, and ``awarded_in_period`` their cap
    sums, when already read). Returns the answer, and whether it is stored already: with
    ``store_response``, the award's posting stores it (when there is one to post)."""
    if offers is None:
        offers = _effective_offers(wallet.scheme_id, event.type)
    lines: list[AwardLine] = []
    if offers:
        facts = ParticipantFacts(
            participant_id=wallet.participant_id,
            segments=wallet.segments,
            time_zone=wallet.time_zone,
            birth_date=wallet.birth_date,
            name_day=wallet.name_day,
            purchase_count_before=wallet.purchase_count,
            awarded_in_period=awarded_in_period
            if awarded_in_period is not None
            else _awarded_in_period(wallet, offers, event.occurred_at),
        )
        lines = evaluate(
            _event_facts(event, wallet, received_at, offers),
            facts,
            [offer.rules for offer in offers],
            {offer.id: offer.budget_left for offer in offers},
        )
        budgeted = {offer.id for offer in offers if offer.budget_left is not None}
        granted = offer_budgets_take(
            wanted={line.offer_id: line.amount_minor for line in lines if line.offer_id in budgeted}
        )
        lines = [
            line
            if line.offer_id not in granted
            else AwardLine(
                offer_id=line.offer_id,
                amount_minor=granted[line.offer_id],
                available_from=line.available_from,
                expires_at=line.expires_at,
                spend_method=line.spend_method,
            )
            for line in lines
        ]
        lines = [line for line in lines if line.amount_minor > 0]
    codes = {offer.id: offer.code for offer in offers}
    if not lines:
        response = processed_event_response(
            event_id=event_id,
            lines=lines,
            offer_codes=codes,
            instant=0,
            balance=wallet.balance_minor,
        )
        return response, False
    response = _post_awards(
        event=event,
        event_id=event_id,
        wallet=wallet,
        lines=lines,
        offer_codes=codes,
        store_response=store_response,
    )
    if wallet.referred_by_id is not None:
        _raise_referral(wallet)
    return response, store_response


def processed_event_response(
    *,
    event_id: int,
    lines: Sequence[AwardLine],
    offer_codes: Mapping[int, str],
    instant: int,
    balance: int,
) -> dict[str, Any]:
    """The answer to a processed event, the same from the interactive and the batch path."""
    return {
        "id": event_id,
        "status": "processed",
        "awards": [
            {
                "offer": line.offer_id,
                "offer_code": offer_codes.get(line.offer_id, ""),
                "amount_minor": line.amount_minor,
                "available_from": _iso(line.available_from),
                "expires_at": _iso(line.expires_at),
                "spend_method": line.spend_method,
            }
            for line in lines
        ],
        "instant_discount_minor": instant,
        "balance_minor": balance,
    }


def _count_purchase(participant_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE rewards_participant SET purchase_count = purchase_count + 1 WHERE id = %s",
            [participant_id],
        )


def _post_awards(
    *,
    event: EventInput,
    event_id: int,
    wallet: LockedWallet,
    lines: Sequence[AwardLine],
    offer_codes: Mapping[int, str],
    store_response: bool,
) -> dict[str, Any]:
    """One award journal: a lot per line; an instant discount is spent in the same journal;
    a negative balance is first recovered from the new wallet lots. Returns the event's
    answer, which the posting stores on the event with ``store_response``."""
    posting = Posting(
        scheme_id=wallet.scheme_id,
        kind=Journal.Kind.AWARD,
        idempotency_key=f"event:{event_id}:award",
        posted_at=timezone.now(),
        participant_id=wallet.participant_id,
        merchant_id=event.merchant.pk if event.merchant is not None else None,
        event_id=event_id,
    )
    debt = max(0, -wallet.balance_minor)
    issued = 0
    instant = 0
    for line in lines:
        is_instant = line.spend_method == "instant_discount"
        recovered = 0 if is_instant else min(debt, line.amount_minor)
        debt -= recovered
        posting.new_lots.append(
            NewLot(
                account_id=wallet.account_id,
                amount_minor=line.amount_minor,
                available_from=line.available_from,
                expires_at=line.expires_at,
                offer_id=line.offer_id,
                consumed_minor=line.amount_minor if is_instant else recovered,
                spend_method=line.spend_method,
                awarded_at=event.occurred_at,
            )
        )
        lot = ("new", len(posting.new_lots) - 1)
        posting.add_wallet_entry(wallet.account_id, line.amount_minor, lot)
        issued += line.amount_minor
        if is_instant:
            posting.add_wallet_entry(wallet.account_id, -line.amount_minor, lot)
            instant += line.amount_minor
    posting.add_entry(wallet.system_accounts["points_issued"], -issued)
    if instant:
        posting.add_entry(wallet.system_accounts["points_redeemed"], instant)
    # The wallet is locked: its balance after the posting is known before it is written.
    balance = wallet.balance_minor + posting.wallet_deltas.get(wallet.account_id, 0)
    response = processed_event_response(
        event_id=event_id, lines=lines, offer_codes=offer_codes, instant=instant, balance=balance
    )
    if store_response:
        posting.event_response = response
    posted = ledger_post(posting=posting)
    assert posted is not None  # noqa: S101 - the key is new: the event row was just inserted
    assert posted.balances.get(wallet.account_id, wallet.balance_minor) == balance  # noqa: S101 - locked
    return response


def _raise_referral(wallet: LockedWallet) -> None:
    """The referrer is rewarded when the referred participant is first rewarded. The
    referral event's key is per referred participant, so only the first award raises it.

    The event is stored queued in this transaction (durable) and evaluated right after
    commit in its own transaction, which locks only the referrer's wallet: holding two
    wallet locks out of id order could deadlock with a duplicate transfer. Should that
    evaluation fail, the event stays queued for the evaluation run.
    """
    now = timezone.now()
    event = EventInput(
        source=SYSTEM_SOURCE,
        external_id=f"referral:{wallet.participant_id}",
        type=CustomerEvent.Type.REFERRAL,
        participant_id=wallet.referred_by_id,  # type: ignore[arg-type]
        occurred_at=now,
    )
    payload = event.canonical()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO rewards_customerevent (scheme_id, participant_id, source, external_id,
                type, occurred_at, received_at, total_minor, clawback_demanded_minor, payload,
                payload_hash, status)
            VALUES (%s, %s, %s, %s, 'referral', %s, %s, 0, 0, %s::jsonb, %s, 'queued')
            ON CONFLICT (source, external_id) DO NOTHING
            RETURNING id
            """,
            [
                wallet.scheme_id,
                wallet.referred_by_id,
                event.source,
                event.external_id,
                now,
                now,
                json.dumps(payload, cls=DjangoJSONEncoder),
                canonical_hash(payload),
            ],
        )
        row = cursor.fetchone()
    if row is not None:
        event_id = row[0]
        _store_response(
            event_id, {"id": event_id, "status": "queued", "awards": []}, processed_at=None
        )
        transaction.on_commit(partial(event_process, event_id=event_id), robust=True)


# ---------------------------------------------------------------------------- refunds


def _refund(
    *,
    event: EventInput,
    event_id: int,
    wallet: LockedWallet,
    original: tuple[int, int],
) -> dict[str, Any]:
    """Takes back the refunded share of the purchase's wallet awards under the scheme's
    return policy. Partial refunds add up: after refunds totalling R of a purchase of T, the
    awards asked back total floor(A * min(R, T) / T) of the A awarded."""
    original_id, original_total = original
    lots = list(
        AwardLot.objects.filter(
            journal__event_id=original_id,
            journal__kind=Journal.Kind.AWARD,
            account_id=wallet.account_id,
        ).order_by("pk")
    )
    wallet_lots = [lot for lot in lots if not _is_instant(lot)]
    awarded = sum(lot.amount_minor for lot in wallet_lots)
    previous = CustomerEvent.objects.filter(original_event_id=original_id).exclude(pk=event_id)
    refunded_before = sum(previous.values_list("total_minor", flat=True))
    demanded_before = sum(previous.values_list("clawback_demanded_minor", flat=True))
    refunded = min(refunded_before + event.total_minor, original_total)
    target = awarded if refunded >= original_total else awarded * refunded // original_total
    demand = max(0, target - demanded_before)
    now = timezone.now()
    policy = wallet.return_policy
    original_ids = {lot.pk for lot in wallet_lots}
    candidates = [
        OpenLot(lot.pk, lot.remaining_minor, None)
        for lot in wallet_lots
        if lot.remaining_minor > 0
        and (policy != Scheme.ReturnPolicy.PENDING_ONLY or lot.available_from > now)
    ]
    if policy != Scheme.ReturnPolicy.PENDING_ONLY:
        candidates += [
            OpenLot(lot.pk, lot.remaining_minor, None)
            for lot in lots_open(account_id=wallet.account_id)
            if lot.pk not in original_ids
        ]
    plan, uncovered = consumption_plan(candidates, demand)
    negative = uncovered if policy == Scheme.ReturnPolicy.ALLOW_NEGATIVE else 0
    taken = sum(take for _lot, take in plan) + negative
    balance = wallet.balance_minor
    if taken:
        posting = Posting(
            scheme_id=wallet.scheme_id,
            kind=Journal.Kind.CLAWBACK,
            idempotency_key=f"event:{event_id}:clawback",
            posted_at=now,
            participant_id=wallet.participant_id,
            merchant_id=event.merchant.pk if event.merchant is not None else None,
            event_id=event_id,
        )
        for lot_id, take in plan:
            posting.add_wallet_entry(wallet.account_id, -take, lot_id)
            posting.change_lot(lot_id, reversed_=take)
        if negative:
            posting.add_wallet_entry(wallet.account_id, -negative)
            posting.negative_allowed_wallets.add(wallet.account_id)
        posting.add_entry(wallet.system_accounts["points_issued"], taken)
        posted = ledger_post(posting=posting)
        assert posted is not None  # noqa: S101 - the key is new: the event row was just inserted
        balance = posted.balances[wallet.account_id]
    return {
        "id": event_id,
        "status": "processed",
        "awards": [],
        "clawback_demanded_minor": demand,
        "clawback_minor": taken,
        "balance_minor": balance,
    }


def _is_instant(lot: AwardLot) -> bool:
    """An instant discount's lot is spent by its own award journal: nothing to take back."""
    return lot.spend_method == AwardLot.SpendMethod.INSTANT_DISCOUNT
