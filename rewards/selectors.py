"""Reads of the rewards app for the API and admin, including the access-checked getters:
an integrator reaches only schemes its merchant takes part in, and their participants."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from rewards.models import Account, AwardLot, Journal, Merchant, Offer, Participant, Scheme


def scheme_get_for_merchant(*, merchant: Merchant, code: str) -> Scheme:
    """Raises Scheme.DoesNotExist for a scheme the merchant does not take part in."""
    return Scheme.objects.get(code=code, memberships__merchant=merchant)


def participant_get_for_merchant(*, merchant: Merchant, participant_id: int) -> Participant:
    """Raises Participant.DoesNotExist for a participant of a scheme the merchant does not
    take part in (the API answers 404, never revealing that the participant exists)."""
    return Participant.objects.select_related("scheme", "wallet").get(
        pk=participant_id, scheme__memberships__merchant=merchant
    )


def participant_get_by_identifier(
    *, merchant: Merchant, scheme_code: str, kind: str, value: str
) -> Participant:
    """The participant an identifier (a scanned card, an app id) names in a scheme the
    merchant takes part in; raises Participant.DoesNotExist otherwise (404, as above)."""
    return Participant.objects.select_related("scheme", "wallet").get(
        scheme__code=scheme_code,
        scheme__memberships__merchant=merchant,
        identifiers__kind=kind,
        identifiers__value=value.strip(),
    )


def offers_for_merchant(*, merchant: Merchant) -> QuerySet[Offer]:
    return (
        Offer.objects.filter(scheme__memberships__merchant=merchant, status=Offer.Status.EFFECTIVE)
        .select_related("scheme", "offer_type", "category")
        .order_by("scheme__code", "code")
    )


@dataclass(frozen=True)
class WalletSummary:
    balance_minor: int
    pending_minor: int
    available_minor: int
    lots: list[AwardLot]


def wallet_summary(*, participant: Participant, at: datetime | None = None) -> WalletSummary:
    """The balance, what is still pending (lots not yet available), and the open lots.

    ``balance_minor`` is the ledger balance (negative only when a refund overdrew it);
    ``available_minor`` is what a spend could take now.
    """
    at = at or timezone.now()
    account = Account.objects.get(participant=participant)
    lots = list(
        AwardLot.objects.filter(
            account=account,
            amount_minor__gt=F("consumed_minor") + F("expired_minor") + F("reversed_minor"),
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .select_related("offer")
        .order_by("expires_at", "available_from", "pk")
    )
    pending = sum(lot.remaining_minor for lot in lots if lot.available_from > at)
    available = sum(lot.remaining_minor for lot in lots if lot.available_from <= at)
    return WalletSummary(
        balance_minor=account.balance_minor or 0,
        pending_minor=pending,
        available_minor=available,
        lots=lots,
    )


def wallet_transactions(*, participant: Participant) -> QuerySet[Journal]:
    """Journals that moved the participant's wallet, newest first, each annotated with the
    net ``amount_minor`` on the wallet."""
    account_id = Account.objects.filter(participant=participant).values_list("pk", flat=True)[0]
    return (
        Journal.objects.filter(entries__account_id=account_id)
        .annotate(
            amount_minor=Sum("entries__amount_minor", filter=Q(entries__account_id=account_id))
        )
        .select_related("merchant", "event")
        .order_by("-pk")
    )
