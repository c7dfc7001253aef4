"""Spending from a wallet: lots are consumed soonest-to-expire first."""

import json
from collections.abc import Collection
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rewards.evaluation import (
    SPEND_REFUSAL_MESSAGES,
    SpendConditions,
    parse_spend_conditions,
    spend_allowed,
)
from rewards.models import Journal, Merchant
from rewards.services.errors import (
    InsufficientFunds,
    InvalidRequest,
    ParticipantNotEffective,
    SpendNotAllowed,
)
from rewards.services.ledger import (
    LockedWallet,
    OpenLot,
    Posting,
    canonical_hash,
    consumption_plan,
    journal_find,
    ledger_post,
    lots_spendable,
    replay_or_conflict,
    wallet_lock,
)


@lru_cache(maxsize=1024)
def _spend_conditions(text: str) -> SpendConditions:
    return parse_spend_conditions(json.loads(text))


def _lots_allowed(
    lots: list[OpenLot],
    *,
    merchant: Merchant,
    product_codes: Collection[str],
    at: datetime,
    time_zone: str,
) -> tuple[list[OpenLot], str | None]:
    """The lots whose offer's spend conditions allow this spend, and one refusal seen."""
    if not any(lot.spend_conditions for lot in lots):
        return lots, None
    group_codes = frozenset(merchant.groups.values_list("code", flat=True))
    allowed: list[OpenLot] = []
    refusal = None
    for lot in lots:
        if lot.spend_conditions:
            conditions = _spend_conditions(json.dumps(lot.spend_conditions, sort_keys=True))
            reason = spend_allowed(
                conditions,
                merchant_code=merchant.code,
                merchant_group_codes=group_codes,
                product_codes=product_codes,
                at=at,
                time_zone=time_zone,
            )
            if reason is not None:
                refusal = reason
                continue
        allowed.append(lot)
    return allowed, refusal


def automatic_spend_allowed(*, participant_id: int, merchant_id: int) -> bool:
    """Whether a purchase by the participant at the merchant pays from the wallet: both the
    participant and the merchant (in the participant's scheme) must allow it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.allows_automatic_spend AND m.allows_automatic_spend
              FROM rewards_participant p
              JOIN rewards_schememerchant m
                ON m.scheme_id = p.scheme_id AND m.merchant_id = %s
             WHERE p.id = %s
            """,
            [merchant_id, participant_id],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def spend_at_purchase(
    *,
    wallet: LockedWallet,
    lots: list[OpenLot],
    merchant: Merchant,
    product_codes: Collection[str],
    amount_cap_minor: int,
    idempotency_key: str,
    at: datetime,
) -> dict[str, Any] | None:
    """The automatic spend of a purchase: pays up to ``amount_cap_minor`` from ``lots``
    (what the wallet could spend before the purchase, read under the wallet lock this
    transaction still holds), skipping lots whose spend conditions refuse the merchant or
    products. Returns {"journal", "amount_minor", "balance_minor"}, or None when nothing
    could be spent."""
    allowed, _refusal = _lots_allowed(
        lots, merchant=merchant, product_codes=product_codes, at=at, time_zone=wallet.time_zone
    )
    amount = min(sum(lot.remaining_minor for lot in allowed), amount_cap_minor)
    if amount <= 0:
        return None
    plan, _uncovered = consumption_plan(allowed, amount)
    posting = Posting(
        scheme_id=wallet.scheme_id,
        kind=Journal.Kind.SPEND,
        idempotency_key=idempotency_key,
        posted_at=at,
        participant_id=wallet.participant_id,
        merchant_id=merchant.pk,
        memo="automatic spend at purchase",
    )
    for lot_id, take in plan:
        posting.add_wallet_entry(wallet.account_id, -take, lot_id)
        posting.change_lot(lot_id, consumed=take)
    posting.add_entry(wallet.system_accounts["points_redeemed"], amount)
    posted = ledger_post(posting=posting)
    if posted is None:
        return None
    return {
        "journal": posted.journal_id,
        "amount_minor": amount,
        "balance_minor": posted.balances[wallet.account_id],
    }


def spend_create(
    *,
    participant_id: int,
    amount_minor: int,
    merchant: Merchant,
    idempotency_key: str,
    product_codes: Collection[str] = (),
    at: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Spends ``amount_minor`` from the participant's wallet at ``merchant``.

    Returns (result, created): a replay of the same request returns the first result with
    created False and posts nothing; the same key with another request raises
    IdempotencyConflict. Raises Participant.DoesNotExist when the merchant does not take
    part in the participant's scheme, InsufficientFunds when the lots available now (and
    allowed here by their offers' spend conditions) do not cover the amount.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise InvalidRequest("amount_minor must be a positive whole number of minor units.")
    if not idempotency_key:
        raise InvalidRequest("An idempotency key is required.")
    at = at or timezone.now()
    key = f"spend:{merchant.pk}:{idempotency_key}"
    request_hash = canonical_hash(
        {
            "participant": participant_id,
            "amount_minor": amount_minor,
            "merchant": merchant.code,
            "products": sorted(product_codes),
        }
    )
    with transaction.atomic():
        wallet = wallet_lock(
            participant_id=participant_id, merchant_id=merchant.pk, idempotency_key=key
        )
        if wallet.existing_journal is not None:
            return replay_or_conflict(wallet.existing_journal, request_hash=request_hash), False
        if not wallet.is_effective:
            raise ParticipantNotEffective("This participant has been terminated.")
        lots, refusal = _lots_allowed(
            lots_spendable(account_id=wallet.account_id, at=at),
            merchant=merchant,
            product_codes=product_codes,
            at=at,
            time_zone=wallet.time_zone,
        )
        plan, uncovered = consumption_plan(lots, amount_minor)
        if uncovered:
            if not lots and refusal is not None:
                raise SpendNotAllowed(SPEND_REFUSAL_MESSAGES.get(refusal, refusal))
            raise InsufficientFunds(
                f"The wallet has {amount_minor - uncovered} available to spend here; "
                f"{amount_minor} was asked."
            )
        balance_after = wallet.balance_minor - amount_minor
        result = {
            "participant": participant_id,
            "amount_minor": amount_minor,
            "balance_minor": balance_after,
        }
        posting = Posting(
            scheme_id=wallet.scheme_id,
            kind=Journal.Kind.SPEND,
            idempotency_key=key,
            request_hash=request_hash,
            posted_at=at,
            participant_id=participant_id,
            merchant_id=merchant.pk,
            memo=idempotency_key[:200],
        )
        for lot_id, take in plan:
            posting.add_wallet_entry(wallet.account_id, -take, lot_id)
            posting.change_lot(lot_id, consumed=take)
        posting.add_entry(wallet.system_accounts["points_redeemed"], amount_minor)
        posting.result = result
        posted = ledger_post(posting=posting)
        if posted is None:
            # Another request wrote this key after our lock's snapshot: answer as a replay.
            existing = journal_find(idempotency_key=key)
            assert existing is not None  # noqa: S101 - the insert just conflicted on it
            return replay_or_conflict(existing, request_hash=request_hash), False
        result["id"] = posted.journal_id
    return result, True
