"""Reads about lucky draws for the portal and the campaign page.

Nothing here ever returns a draw's seed before the draw has run: the seed hash is public
from scheduling, the seed only once it is revealed.
"""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Customer
from rewards.models import Draw, DrawResult, Scheme


def draw_public_facts(draw: Draw) -> dict[str, Any]:
    """What the campaign's public page may show about a draw.

    Before the draw: the prize, how many winners and reserves, when entries close, the
    algorithm and the SHA-256 hash of the secret seed (the commitment). After it, also the
    revealed seed, when it ran, how many entries it drew from, the digest of the entry list
    and the drawn positions as entry ids (no personal data), so anyone holding the entry
    list can check that SHA-256(seed) is the hash published before and re-derive the picks.
    """
    facts: dict[str, Any] = {
        "id": draw.pk,
        "name": str(draw),
        "campaign": draw.scheme.name,
        "prize": draw.prize.name,
        "winners_count": draw.winners_count,
        "reserves_count": draw.reserves_count,
        "entries_close_at": draw.entries_close_at,
        "status": draw.status,
        "algorithm": draw.algorithm,
        "seed_hash": draw.seed_hash,
        "scheduled_at": draw.scheduled_at,
        "is_drawn": draw.status == Draw.Status.DRAWN,
    }
    if draw.status == Draw.Status.DRAWN:
        facts |= {
            "seed": draw.seed,
            "drawn_at": draw.drawn_at,
            "entries_count": draw.entries_count,
            "entries_digest": draw.entries_digest,
            "drawn_entry_ids": list(
                draw.results.order_by("position").values_list("entry_id", flat=True)
            ),
        }
    return facts


def draws_public_for_scheme(*, scheme: Scheme) -> list[dict[str, Any]]:
    """Public facts of every scheduled or drawn draw of a campaign, soonest closing first."""
    draws = (
        Draw.objects.filter(scheme=scheme, status__in=[Draw.Status.SCHEDULED, Draw.Status.DRAWN])
        .select_related("scheme", "prize")
        .order_by("entries_close_at", "pk")
    )
    return [draw_public_facts(draw) for draw in draws]


def draw_open_for_scheme(*, scheme: Scheme, now: datetime | None = None) -> Draw | None:
    """The draw that an entry for this campaign would go into now (the one closing first)."""
    return (
        Draw.objects.filter(
            scheme=scheme,
            status=Draw.Status.SCHEDULED,
            entries_close_at__gt=now or timezone.now(),
        )
        .select_related("prize")
        .order_by("entries_close_at", "pk")
        .first()
    )


def draw_wins_for_customer(*, customer: Customer) -> QuerySet[DrawResult]:
    """The customer's own winning results (pending claim, promoted or claimed), newest
    draw first: what the portal offers to claim."""
    return (
        DrawResult.objects.filter(customer=customer, status__in=DrawResult.WINNING_STATUSES)
        .select_related("draw", "draw__prize", "draw__scheme", "entry")
        .order_by("-draw__drawn_at", "position")
    )


def draw_result_get_for_customer(*, customer: Customer, result_id: int) -> DrawResult | None:
    """One of the customer's own results, or None (so another id reads as not found)."""
    return (
        DrawResult.objects.filter(customer=customer, pk=result_id)
        .select_related("draw", "draw__prize", "draw__scheme")
        .first()
    )
