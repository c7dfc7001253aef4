"""Lucky draws: scheduling (commit to a seed), entries, the draw, verification, claiming and
forfeiture with promotion of reserves. See docs/CODES_AND_DRAWS.md for the proof of
fairness an outsider can follow.

The draw, step by step (``DRAW_ALGORITHM``):

1. The entry list is every entry of the draw ordered by id, one line per entry:
   ``<entry id>:<customer id>:<ticket>`` where the ticket is ``code:<code>`` or
   ``purchase:<customer event id>``. Its digest is SHA-256 of the lines, each ending in
   ``\\n``, in UTF-8.
2. A stream of uniform numbers comes from the seed exactly as for code batches
   (``rewards.services.codes.SeededStream``: SHA-256(seed || counter)).
3. Forward Fisher-Yates over the positions 0..n-1 of the list: for i = 0, 1, ...: swap
   position i with i + below(n - i). Walking the shuffled list from the front, the first
   entry of each customer not picked yet is picked (one result per customer), until
   winners + reserves are picked or the list ends.
4. The first ``winners_count`` picks are the winners (positions 1..W), the rest the
   reserves in order (positions W+1..).
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.audit import audit_record
from crm.events import publish
from crm.models import AuditEvent
from rewards.models import CustomerEvent, Draw, DrawEntry, DrawResult, Prize, Run, Scheme
from rewards.services.codes import SeededStream
from rewards.services.errors import InvalidRequest, InvalidTransition
from rewards.services.prizes import PrizeOutOfStock, prize_release, prize_reserve

DRAW_ALGORITHM = "sha256-ctr-fisher-yates-draw-v1"
RESERVE_PROMOTED_EVENT = "draw.reserve_promoted"
WINNER_DRAWN_EVENT = "draw.winner_drawn"
FORFEIT_REASON_DEADLINE = "Not claimed by the claim deadline."


class DrawError(InvalidRequest):
    code = "draw_invalid"


def _user_or_none(actor: Any) -> Any:
    """The staff user behind ``actor``, or None for a task or command (a plain label)."""
    return actor if isinstance(actor, AbstractBaseUser) else None


def seed_hash_of(seed_hex: str) -> str:
    """The published commitment: SHA-256 of the seed's 32 bytes, in hex."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


# --- scheduling --------------------------------------------------------------------------


def draw_schedule(
    *,
    scheme: Scheme,
    prize: Prize,
    winners_count: int,
    reserves_count: int,
    entries_close_at: datetime,
    actor: Any,
    name: str = "",
    minimum_claim_days: int = 14,
    now: datetime | None = None,
) -> Draw:
    """Schedules a draw and commits to its secret seed by publishing the seed's hash.

    The prize must have stock for the winners of this draw and of the other scheduled
    draws of the same prize (the stock is taken when the draw runs).
    """
    now = now or timezone.now()
    if scheme.kind != Scheme.Kind.LUCKY_DRAW:
        raise DrawError("Draws belong to lucky-draw campaigns.")
    if prize.scheme_id != scheme.pk:
        raise DrawError(f"{prize} is not a prize of {scheme}.")
    if winners_count < 1 or reserves_count < 0:
        raise DrawError("A draw has at least one winner and zero or more reserves.")
    if entries_close_at <= now:
        raise DrawError("Entries must close in the future.")
    seed = secrets.token_hex(32)
    with transaction.atomic():
        locked_prize = Prize.objects.select_for_update().get(pk=prize.pk)
        promised = sum(
            Draw.objects.filter(prize=locked_prize, status=Draw.Status.SCHEDULED).values_list(
                "winners_count", flat=True
            )
        )
        left = locked_prize.quantity_left - promised
        if winners_count > left:
            raise DrawError(
                f"Only {max(left, 0):,} of {locked_prize.name} are left for a new draw "
                f"({locked_prize.quantity_awarded:,} won, {promised:,} promised to scheduled "
                f"draws, {locked_prize.quantity_total:,} in stock)."
            )
        draw = Draw.objects.create(
            scheme=scheme,
            prize=locked_prize,
            name=name,
            winners_count=winners_count,
            reserves_count=reserves_count,
            entries_close_at=entries_close_at,
            minimum_claim_days=minimum_claim_days,
            algorithm=DRAW_ALGORITHM,
            seed=seed,
            seed_hash=seed_hash_of(seed),
            created_by=_user_or_none(actor),
        )
        audit_record(
            action="draw.schedule",
            actor=actor,
            target=draw,
            after=_schedule_audit_facts(draw),
        )
    return draw


def _schedule_audit_facts(draw: Draw) -> dict[str, Any]:
    """The commitment as the audit trail keeps it (never the seed)."""
    return {
        "scheme_id": draw.scheme_id,
        "prize_id": draw.prize_id,
        "winners_count": draw.winners_count,
        "reserves_count": draw.reserves_count,
        "entries_close_at": draw.entries_close_at.isoformat(),
        "algorithm": draw.algorithm,
        "seed_hash": draw.seed_hash,
    }


# --- entries -----------------------------------------------------------------------------


def draw_enter_purchase(
    *, draw: Draw, customer_event: CustomerEvent, actor: Any, now: datetime | None = None
) -> DrawEntry:
    """Enters a purchase into an open draw as one ticket for the purchasing customer.

    The purchase must be a purchase of the same client's campaigns, made between the draw
    campaign's start and the close of entries; a purchase enters a draw once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _draw_share_lock(draw_id=draw.pk)
        if locked is None or locked.status != Draw.Status.SCHEDULED:
            raise DrawError("This draw is not open for entries.")
        if now >= locked.entries_close_at:
            raise DrawError("Entries to this draw have closed.")
        event = CustomerEvent.objects.select_related("participant", "scheme").get(
            pk=customer_event.pk
        )
        if event.type != CustomerEvent.Type.PURCHASE:
            raise DrawError("Only a purchase can enter a draw.")
        if event.scheme.client_id != locked.scheme.client_id:
            raise DrawError("The purchase belongs to another client's campaign.")
        if not locked.scheme.starts_at <= event.occurred_at < locked.entries_close_at:
            raise DrawError("The purchase was not made while the draw was open.")
        try:
            with transaction.atomic():
                entry = DrawEntry.objects.create(
                    draw=locked,
                    customer_id=event.participant.customer_id,
                    kind=DrawEntry.Kind.PURCHASE,
                    customer_event=event,
                )
        except IntegrityError as error:
            raise DrawError("This purchase has already entered this draw.") from error
        audit_record(
            action="draw.enter_purchase",
            actor=actor,
            target=entry,
            after={"draw_id": locked.pk, "customer_event_id": event.pk},
        )
    return entry


def _draw_share_lock(*, draw_id: int) -> Draw | None:
    """Share-locks the draw row: entries are taken concurrently, while ``draw_run`` (which
    locks for update) waits for every entry in flight."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM rewards_draw WHERE id = %s FOR SHARE", [draw_id])
        if cursor.fetchone() is None:
            return None
    return Draw.objects.select_related("scheme").get(pk=draw_id)


# --- the draw ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryLine:
    entry_id: int
    customer_id: int
    ticket: str

    def __str__(self) -> str:
        return f"{self.entry_id}:{self.customer_id}:{self.ticket}"


def draw_entry_list(*, draw_id: int) -> list[EntryLine]:
    """The canonical entry list: every entry of the draw, ordered by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id, e.customer_id, e.kind, c.value, e.customer_event_id "
            "FROM rewards_drawentry e LEFT JOIN rewards_code c ON c.id = e.code_id "
            "WHERE e.draw_id = %s ORDER BY e.id",
            [draw_id],
        )
        return [
            EntryLine(
                entry_id,
                customer_id,
                f"code:{value}" if kind == DrawEntry.Kind.CODE else f"purchase:{event_id}",
            )
            for entry_id, customer_id, kind, value, event_id in cursor.fetchall()
        ]


def entry_list_digest(lines: list[EntryLine]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(f"{line}\n".encode())
    return digest.hexdigest()


def draw_select(
    *, seed_hex: str, algorithm: str, customer_ids: list[int], picks_wanted: int
) -> list[int]:
    """Indices into the entry list of the picks, in draw order (see the module docstring)."""
    if algorithm != DRAW_ALGORITHM:
        raise DrawError(f"Unknown draw algorithm {algorithm!r}.")
    stream = SeededStream(bytes.fromhex(seed_hex))
    count = len(customer_ids)
    order = list(range(count))
    picks: list[int] = []
    picked_customers: set[int] = set()
    position = 0
    while len(picks) < picks_wanted and position < count:
        other = position + stream.below(count - position)
        order[position], order[other] = order[other], order[position]
        index = order[position]
        if customer_ids[index] not in picked_customers:
            picked_customers.add(customer_ids[index])
            picks.append(index)
        position += 1
    return picks


def draw_run(*, draw_id: int, actor: Any, now: datetime | None = None) -> Draw:
    """Draws the winners and ordered reserves and reveals the seed.

    Runs once: a drawn draw is returned as it is (so a redelivered task does nothing).
    Refused before entries close, for a cancelled draw, or when the prize has too little
    stock for the winners (nothing is written then).
    """
    now = now or timezone.now()
    with transaction.atomic():
        draw = (
            Draw.objects.select_for_update(of=("self",))
            .select_related("scheme", "prize")
            .get(pk=draw_id)
        )
        if draw.status == Draw.Status.DRAWN:
            return draw
        if draw.status != Draw.Status.SCHEDULED:
            raise DrawError("A cancelled draw cannot be run.")
        if now < draw.entries_close_at:
            raise DrawError(
                f"Entries close at {timezone.localtime(draw.entries_close_at):%Y-%m-%d %H:%M}; "
                "the draw runs after that."
            )
        run = _start_run(draw=draw, actor=actor, now=now)
        lines = draw_entry_list(draw_id=draw.pk)
        picks = draw_select(
            seed_hex=draw.seed,
            algorithm=draw.algorithm,
            customer_ids=[line.customer_id for line in lines],
            picks_wanted=draw.winners_count + draw.reserves_count,
        )
        winners = picks[: draw.winners_count]
        if winners:
            try:
                prize_reserve(prize_id=draw.prize_id, quantity=len(winners))
            except PrizeOutOfStock as error:
                raise DrawError(
                    f"{draw.prize.name} has fewer than {len(winners)} left; add stock first."
                ) from error
        results = DrawResult.objects.bulk_create(
            [
                DrawResult(
                    draw=draw,
                    entry_id=lines[index].entry_id,
                    customer_id=lines[index].customer_id,
                    position=position,
                    is_reserve=position > draw.winners_count,
                    status=(
                        DrawResult.Status.RESERVE
                        if position > draw.winners_count
                        else DrawResult.Status.PENDING_CLAIM
                    ),
                    claim_deadline_at=(
                        None if position > draw.winners_count else _claim_deadline(draw, now)
                    ),
                )
                for position, index in enumerate(picks, start=1)
            ]
        )
        draw.status = Draw.Status.DRAWN
        draw.drawn_at = now
        draw.entries_count = len(lines)
        draw.entries_digest = entry_list_digest(lines)
        draw.run = run
        draw.save(update_fields=["status", "drawn_at", "entries_count", "entries_digest", "run"])
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.SUCCEEDED,
            total_items=len(lines),
            processed_items=len(lines),
            posted_items=len(results),
            cursor=lines[-1].entry_id if lines else 0,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        audit_record(
            action="draw.run",
            actor=actor,
            target=draw,
            after={
                "seed": draw.seed,
                "seed_hash": draw.seed_hash,
                "entries_count": draw.entries_count,
                "entries_digest": draw.entries_digest,
                "winners": [lines[index].entry_id for index in winners],
                "reserves": [lines[index].entry_id for index in picks[len(winners) :]],
            },
        )
        for result in results:
            if not result.is_reserve:
                publish(
                    WINNER_DRAWN_EVENT,
                    customer_id=result.customer_id,
                    event_id=f"draw-result-{result.pk}-won",
                    draw=_draw_payload(draw, result),
                )
    return draw


def _start_run(*, draw: Draw, actor: Any, now: datetime) -> Run:
    try:
        with transaction.atomic():
            return Run.objects.create(
                kind=Run.Kind.DRAW,
                scheme=draw.scheme,
                status=Run.Status.RUNNING,
                parameters={"draw_id": draw.pk},
                attempts=1,
                started_at=now,
                heartbeat_at=now,
                requested_by=_user_or_none(actor),
            )
    except IntegrityError as error:
        raise DrawError(
            "Another draw of this campaign is running; try again when it has finished."
        ) from error


def _draw_payload(draw: Draw, result: DrawResult) -> dict[str, Any]:
    return {
        "name": str(draw),
        "prize_name": draw.prize.name,
        "campaign_name": draw.scheme.name,
        "position": result.position,
        "claim_deadline_on": (
            timezone.localtime(result.claim_deadline_at).date().isoformat()
            if result.claim_deadline_at
            else ""
        ),
    }


# --- verification ------------------------------------------------------------------------


@dataclass
class DrawVerification:
    draw_id: int
    entries_count: int = 0
    derived_entry_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def is_ok(self) -> bool:
        return not self.problems


def draw_verify(*, draw: Draw) -> DrawVerification:
    """Re-derives the draw from the revealed seed and the stored entries and compares it
    with the stored results, the published hash and the audit trail. Read-only."""
    result = DrawVerification(draw_id=draw.pk)
    if draw.status != Draw.Status.DRAWN:
        result.problems.append("The draw has not been run, so its seed is not revealed yet.")
        return result
    if seed_hash_of(draw.seed) != draw.seed_hash:
        result.problems.append("The revealed seed does not match the published seed hash.")
    scheduled = (
        AuditEvent.objects.filter(
            action="draw.schedule", object_type="rewards.draw", object_id=str(draw.pk)
        )
        .order_by("pk")
        .first()
    )
    if scheduled is None:
        result.problems.append("The audit trail has no record of this draw being scheduled.")
    elif (scheduled.after or {}).get("seed_hash") != draw.seed_hash:
        result.problems.append(
            "The seed hash differs from the one published when the draw was scheduled."
        )
    lines = draw_entry_list(draw_id=draw.pk)
    result.entries_count = len(lines)
    if len(lines) != draw.entries_count or entry_list_digest(lines) != draw.entries_digest:
        result.problems.append(
            f"The entry list has changed since the draw ({len(lines):,} entries now, "
            f"{draw.entries_count:,} drawn from; the digests differ)."
        )
    try:
        picks = draw_select(
            seed_hex=draw.seed,
            algorithm=draw.algorithm,
            customer_ids=[line.customer_id for line in lines],
            picks_wanted=draw.winners_count + draw.reserves_count,
        )
    except (DrawError, ValueError) as error:
        result.problems.append(f"The draw cannot be re-derived: {error}")
        return result
    result.derived_entry_ids = [lines[index].entry_id for index in picks]
    stored = list(
        DrawResult.objects.filter(draw=draw).order_by("position").values_list("entry_id", flat=True)
    )
    if stored != result.derived_entry_ids:
        result.problems.append(
            "The stored winners and reserves differ from the ones the seed and the entry list give."
        )
    return result


# --- claiming and forfeiting -------------------------------------------------------------


def draw_result_claim(*, result: DrawResult, actor: Any, now: datetime | None = None) -> DrawResult:
    """Records that a winner (or promoted reserve) has claimed the prize in time. The
    claims app calls it when the winner submits the claim."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = DrawResult.objects.select_for_update().get(pk=result.pk)
        if locked.status == DrawResult.Status.CLAIMED:
            return locked
        if locked.status not in DrawResult.CLAIMABLE_STATUSES:
            raise InvalidTransition(
                f"This result is {locked.get_status_display().lower()} and cannot be claimed."
            )
        if locked.claim_deadline_at is not None and now >= locked.claim_deadline_at:
            raise InvalidTransition("The deadline for claiming this prize has passed.")
        locked.status = DrawResult.Status.CLAIMED
        locked.claimed_at = now
        locked.save(update_fields=["status", "claimed_at"])
        audit_record(action="draw_result.claim", actor=actor, target=locked, after={"at": now})
    return locked


@dataclass(frozen=True)
class ForfeitOutcome:
    result: DrawResult
    promoted: DrawResult | None
    changed: bool


def draw_result_forfeit(
    *, result: DrawResult, reason: str, actor: Any, now: datetime | None = None
) -> ForfeitOutcome:
    """The winner forfeits (did not claim in time, or the claim was finally rejected); the
    first waiting reserve is promoted, gets its own claim deadline and is notified
    (``draw.reserve_promoted``, after commit). With no reserve left the prize goes back to
    stock. Forfeiting a forfeited result again changes nothing (``changed`` is False).

    The claims app calls this, not ``prize_release``, when a draw winner's claim is finally
    rejected.
    """
    return _forfeit(result_id=result.pk, reason=reason, actor=actor, now=now or timezone.now())


# The name the claims service was told to call.
result_forfeit = draw_result_forfeit


def draw_results_forfeit_expired(*, now: datetime | None = None) -> int:
    """Forfeits every winner whose claim deadline has passed without a claim, promoting
    reserves. Periodic (beat); safe to run at any time and twice. Returns how many."""
    now = now or timezone.now()
    expired = list(
        DrawResult.objects.filter(
            status__in=DrawResult.CLAIMABLE_STATUSES, claim_deadline_at__lte=now
        )
        .order_by("draw_id", "position")
        .values_list("pk", flat=True)
    )
    forfeited = 0
    for result_id in expired:
        outcome = _forfeit(
            result_id=result_id,
            reason=FORFEIT_REASON_DEADLINE,
            actor="claim deadline",
            now=now,
            only_if_expired=True,
        )
        forfeited += outcome.changed
    return forfeited


def _forfeit(
    *, result_id: int, reason: str, actor: Any, now: datetime, only_if_expired: bool = False
) -> ForfeitOutcome:
    with transaction.atomic():
        # Lock order: the draw, then its results. Promotions of one draw are serialised by
        # the draw's row lock, so two forfeits at once never promote the same reserve.
        draw_id = DrawResult.objects.values_list("draw_id", flat=True).get(pk=result_id)
        draw = (
            Draw.objects.select_for_update(of=("self",))
            .select_related("scheme", "prize")
            .get(pk=draw_id)
        )
        result = DrawResult.objects.select_for_update().get(pk=result_id)
        if result.status == DrawResult.Status.FORFEITED:
            return ForfeitOutcome(result=result, promoted=None, changed=False)
        if only_if_expired and not (
            result.status in DrawResult.CLAIMABLE_STATUSES
            and result.claim_deadline_at is not None
            and result.claim_deadline_at <= now
        ):
            return ForfeitOutcome(result=result, promoted=None, changed=False)
        if result.status == DrawResult.Status.RESERVE:
            raise InvalidTransition("A reserve who has not been promoted cannot forfeit.")
        before = result.status
        result.status = DrawResult.Status.FORFEITED
        result.forfeited_at = now
        result.forfeit_reason = reason[:200]
        result.save(update_fields=["status", "forfeited_at", "forfeit_reason"])
        audit_record(
            action="draw_result.forfeit",
            actor=actor,
            target=result,
            before={"status": before},
            after={"status": result.status, "reason": result.forfeit_reason},
        )
        promoted = (
            DrawResult.objects.select_for_update()
            .filter(draw=draw, status=DrawResult.Status.RESERVE)
            .order_by("position")
            .first()
        )
        if promoted is None:
            prize_release(prize_id=draw.prize_id)
            return ForfeitOutcome(result=result, promoted=None, changed=True)
        promoted.status = DrawResult.Status.PROMOTED
        promoted.promoted_at = now
        promoted.replaces = result
        promoted.claim_deadline_at = _claim_deadline(draw, now)
        promoted.save(update_fields=["status", "promoted_at", "replaces", "claim_deadline_at"])
        audit_record(
            action="draw_result.promote",
            actor=actor,
            target=promoted,
            before={"status": DrawResult.Status.RESERVE},
            after={
                "status": promoted.status,
                "replaces": result.pk,
                "claim_deadline_at": promoted.claim_deadline_at,
            },
        )
        publish(
            RESERVE_PROMOTED_EVENT,
            customer_id=promoted.customer_id,
            event_id=f"draw-result-{promoted.pk}-promoted",
            draw=_draw_payload(draw, promoted),
        )
    return ForfeitOutcome(result=result, promoted=promoted, changed=True)


def _claim_deadline(draw: Draw, now: datetime) -> datetime | None:
    """A winner drawn or a reserve promoted ``now`` may claim until the campaign's claim
    deadline, but gets at least ``minimum_claim_days`` even when that deadline is nearer
    (or past); a campaign without a deadline gives none."""
    deadline = draw.scheme.claim_deadline_at
    if deadline is None:
        return None
    return max(deadline, now + timedelta(days=draw.minimum_claim_days))
