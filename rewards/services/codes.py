"""Code batches (generation, prize pre-assignment, verification, export) and code entry.

Generation
    ``code_batch_generate`` validates the request, records a CodeBatch and a Run
    (kind ``code_generation``) and then fills the batch, inline for small batches and on the
    ``runs`` Celery queue for large ones. ``code_batch_run`` does the filling in chunks: each
    chunk's codes come from ``rewards.codes.new_codes`` (``secrets``) and go in with one
    PostgreSQL ``COPY``, in a transaction that also advances the run's cursor, so a killed
    worker resumes after the last committed chunk and never inserts a serial twice.

Prize pre-assignment (instant win)
    Every code has a serial number 1..size. The prize plan {prize id: count} is laid out as
    slots, prizes in ascending id order each repeated ``count`` times, then empty slots up
    to ``size``; the slots are shuffled with ``ASSIGNMENT_ALGORITHM`` (see
    ``seeded_shuffle``) under a 32-byte seed from ``secrets``, and the code with serial
    ``n`` gets slot ``n - 1``. The seed, the algorithm and the plan are stored on the batch
    (and the seed's SHA-256 in the audit trail), so ``manage.py verify_code_batch`` can
    re-derive every code's prize and report any difference.

Inventory
    ``Prize.quantity_awarded`` counts prizes won; pre-assignment only promises stock. A plan
    is refused when, for any prize, won + still-unentered pre-assigned codes + the new plan
    would exceed ``quantity_total``. Entering a winning code takes the prize out of stock
    (``prize_reserve``) in the same transaction, so the promise becomes a win exactly once.

Entry
    ``code_enter`` turns what a customer typed into a ``CodeEntryResult`` (never raises for
    a customer's mistake) under a row lock on the code, so two customers entering one code
    at the same time get one winner.
"""

import hashlib
import logging
import secrets
import struct
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.models import AuditEvent, ChannelPartner, Customer
from rewards.codes import CodeFormatError, display, new_codes, normalise
from rewards.models import Code, CodeBatch, Draw, DrawEntry, Prize, Run, Scheme
from rewards.services.errors import InvalidRequest, InvalidTransition
from rewards.services.prizes import PrizeOutOfStock, prize_reserve

logger = logging.getLogger(__name__)

ASSIGNMENT_ALGORITHM = "sha256-ctr-fisher-yates-v1"
# Batches up to this size are filled in the request; larger ones on the runs queue.
INLINE_BATCH_MAX = 20_000
MAX_BATCH_SIZE = 10_000_000
CHUNK_SIZE = 50_000
# A chunk whose COPY hits an existing code (about one in a million per million codes
# already stored) is regenerated; more clashes than this mean something else is wrong.
CHUNK_ATTEMPTS = 3
MISMATCHES_REPORTED = 100

_TWO_TO_64 = 1 << 64


class CodeBatchError(InvalidRequest):
    code = "code_batch_invalid"


# --- the seeded shuffle ------------------------------------------------------------------


class SeededStream:
    """Uniform integers from SHA-256 in counter mode.

    Block ``k`` (k = 0, 1, 2, ...) is SHA-256(seed || k as 8 bytes big-endian), read as four
    64-bit big-endian unsigned integers, first to last. ``below(n)`` takes integers from
    the stream until one is under the largest multiple of ``n`` that fits in 64 bits
    (rejection, so no value is favoured) and returns it modulo ``n``.
    """

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer: list[int] = []

    def next_u64(self) -> int:
        if not self._buffer:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._buffer = list(reversed(struct.unpack(">4Q", block)))
        return self._buffer.pop()

    def below(self, bound: int) -> int:
        limit = _TWO_TO_64 - _TWO_TO_64 % bound
        while True:
            value = self.next_u64()
            if value < limit:
                return value % bound


def seeded_shuffle(items: list[Any], seed: bytes) -> None:
    """Shuffles ``items`` in place: Fisher-Yates from the last position down,
    ``j = below(i + 1)`` from a SeededStream, swap ``items[i]`` and ``items[j]``."""
    stream = SeededStream(seed)
    below = stream.below
    for index in range(len(items) - 1, 0, -1):
        other = below(index + 1)
        items[index], items[other] = items[other], items[index]


def prize_assignment(
    *, seed_hex: str, algorithm: str, size: int, prize_plan: Mapping[str, int]
) -> list[int | None]:
    """The prize id (or None) of each serial: element ``n - 1`` is serial ``n``'s prize."""
    if algorithm != ASSIGNMENT_ALGORITHM:
        raise CodeBatchError(f"Unknown prize assignment algorithm {algorithm!r}.")
    slots: list[int | None] = []
    for prize_id in sorted(int(key) for key in prize_plan):
        slots.extend([prize_id] * int(prize_plan[str(prize_id)]))
    if len(slots) > size:
        raise CodeBatchError("The prize plan has more prizes than the batch has codes.")
    slots.extend([None] * (size - len(slots)))
    seeded_shuffle(slots, bytes.fromhex(seed_hex))
    return slots


# --- generation --------------------------------------------------------------------------


def code_batch_generate(
    *,
    scheme: Scheme,
    size: int,
    actor: Any,
    prize_plan: Mapping[int, int] | None = None,
    inline: bool | None = None,
    channel_partner: ChannelPartner | None = None,
) -> CodeBatch:
    """Creates a batch of ``size`` codes for ``scheme``, with ``prize_plan`` ({prize id:
    number of codes}) pre-assigned for instant win, distributed through ``channel_partner``
    (a partner of the scheme's client; claims of these codes belong to it).

    Batches up to INLINE_BATCH_MAX are filled before this returns (``inline`` forces
    either way); larger ones are filled by a Celery task on the runs queue, enqueued after
    commit, with progress on ``batch.run``. Raises CodeBatchError with a clear message.
    """
    if channel_partner is not None and channel_partner.client_id != scheme.client_id:
        raise CodeBatchError(
            "Choose a channel partner of the campaign's client; this one belongs to another."
        )
    plan = _validated_plan(scheme=scheme, size=size, prize_plan=prize_plan or {})
    run_inline = size <= INLINE_BATCH_MAX if inline is None else inline
    user: Any = actor if isinstance(actor, AbstractBaseUser) else None
    seed_hex = secrets.token_hex(32) if plan else ""
    try:
        with transaction.atomic():
            _check_stock(scheme=scheme, plan=plan)
            run = Run.objects.create(
                kind=Run.Kind.CODE_GENERATION,
                scheme=scheme,
                status=Run.Status.QUEUED,
                total_items=size,
                requested_by=user,
            )
            batch = CodeBatch.objects.create(
                scheme=scheme,
                channel_partner=channel_partner,
                size=size,
                status=CodeBatch.Status.GENERATING,
                prize_plan=plan,
                prize_assignment_seed=seed_hex,
                prize_assignment_algorithm=ASSIGNMENT_ALGORITHM if plan else "",
                created_by=user,
                run=run,
            )
            Run.objects.filter(pk=run.pk).update(parameters={"code_batch_id": batch.pk})
            audit_record(
                action="code_batch.generate",
                actor=actor,
                target=batch,
                after=_batch_audit_facts(batch),
            )
            if not run_inline:
                run_id = run.pk
                transaction.on_commit(lambda: _enqueue_generation(run_id))
    except IntegrityError as error:
        if "run_one_active_per_kind_and_scheme" in str(error):
            raise CodeBatchError(
                "Codes are already being generated for this campaign; wait for that batch "
                "to finish."
            ) from error
        raise
    if run_inline:
        code_batch_run(run_id=run.pk)
        batch.refresh_from_db()
    return batch


def _enqueue_generation(run_id: int) -> None:
    from rewards.tasks_codes import code_batch_generate_task

    code_batch_generate_task.delay(run_id)


def _validated_plan(*, scheme: Scheme, size: int, prize_plan: Mapping[int, int]) -> dict[str, int]:
    if scheme.kind not in (Scheme.Kind.INSTANT_WIN, Scheme.Kind.LUCKY_DRAW):
        raise CodeBatchError("Codes are for instant-win and lucky-draw campaigns only.")
    if not 0 < size <= MAX_BATCH_SIZE:
        raise CodeBatchError(f"A batch has between 1 and {MAX_BATCH_SIZE:,} codes.")
    plan = {int(prize_id): int(count) for prize_id, count in prize_plan.items() if int(count)}
    if not plan:
        return {}
    if scheme.kind != Scheme.Kind.INSTANT_WIN:
        raise CodeBatchError(
            "Prizes are pre-assigned to codes only in instant-win campaigns; a lucky draw "
            "picks its winners in the draw."
        )
    if any(count < 0 for count in plan.values()):
        raise CodeBatchError("A prize count cannot be negative.")
    known = set(Prize.objects.filter(scheme=scheme, pk__in=plan).values_list("pk", flat=True))
    if unknown := sorted(set(plan) - known):
        raise CodeBatchError(f"Prizes {unknown} are not prizes of {scheme}.")
    if sum(plan.values()) > size:
        raise CodeBatchError(
            f"The plan assigns {sum(plan.values()):,} prizes but the batch has {size:,} codes."
        )
    return {str(prize_id): plan[prize_id] for prize_id in sorted(plan)}


def _check_stock(*, scheme: Scheme, plan: Mapping[str, int]) -> None:
    """Refuses a plan that would promise more of a prize than is left. Call inside the
    transaction that records the batch: the prize rows stay locked until it commits, so two
    batches generated at once cannot both take the last units."""
    if not plan:
        return
    prizes = list(
        Prize.objects.select_for_update().filter(pk__in=[int(key) for key in plan]).order_by("pk")
    )
    promised = dict(
        Code.objects.filter(
            prize__in=prizes,
            status=Code.Status.ISSUED,
            batch__status=CodeBatch.Status.READY,
        )
        .values_list("prize_id")
        .annotate(count=Count("pk"))
    )
    for batch_plan in CodeBatch.objects.filter(
        scheme=scheme, status=CodeBatch.Status.GENERATING
    ).values_list("prize_plan", flat=True):
        for prize_id, count in batch_plan.items():
            promised[int(prize_id)] = promised.get(int(prize_id), 0) + int(count)
    for prize in prizes:
        wanted = plan[str(prize.pk)]
        available = prize.quantity_total - prize.quantity_awarded - promised.get(prize.pk, 0)
        if wanted > available:
            raise CodeBatchError(
                f"Only {max(available, 0):,} of {prize.name} are left to assign "
                f"({prize.quantity_awarded:,} won, {promised.get(prize.pk, 0):,} on codes not "
                f"yet entered, {prize.quantity_total:,} in stock); the plan asks for {wanted:,}."
            )


def _batch_audit_facts(batch: CodeBatch) -> dict[str, Any]:
    """What the audit trail keeps of a batch: enough to detect a changed seed or plan, but
    only the seed's hash, since the seed tells which serial won what."""
    seed = batch.prize_assignment_seed
    return {
        "scheme_id": batch.scheme_id,
        "size": batch.size,
        "prize_plan": batch.prize_plan,
        "prize_assignment_algorithm": batch.prize_assignment_algorithm,
        "prize_assignment_seed_sha256": (
            hashlib.sha256(bytes.fromhex(seed)).hexdigest() if seed else ""
        ),
    }


def code_batch_run(*, run_id: int) -> Run:
    """Fills the batch of a code-generation run, resuming after its cursor.

    Safe to call twice, even at the same time: each chunk is written under the run's row
    lock and starts after the cursor the previous chunk committed, and a run that is no
    longer queued or running is left alone.
    """
    run = Run.objects.get(pk=run_id)
    if run.status not in Run.ACTIVE_STATUSES:
        return run
    batch = CodeBatch.objects.get(run=run)
    Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE_STATUSES).update(
        status=Run.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=run.started_at or timezone.now(),
        heartbeat_at=timezone.now(),
    )
    prizes = _prizes_by_serial(batch)
    supply = _CodeSupply()
    try:
        while _copy_next_chunk(run_id=run.pk, batch=batch, prizes=prizes, supply=supply):
            pass
    except Exception as error:
        _fail(run_id=run.pk, batch_id=batch.pk, error=error)
        raise
    finally:
        supply.close()
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status == Run.Status.RUNNING:
            now = timezone.now()
            run.status = Run.Status.SUCCEEDED
            run.finished_at = now
            run.heartbeat_at = now
            run.save(update_fields=["status", "finished_at", "heartbeat_at"])
            CodeBatch.objects.filter(pk=batch.pk).update(
                status=CodeBatch.Status.READY, completed_at=now
            )
            batch.refresh_from_db()
            audit_record(
                action="code_batch.ready",
                actor="code generation run",
                target=batch,
                after={"run_id": run.pk, "codes": run.processed_items},
            )
    return run


def _prizes_by_serial(batch: CodeBatch) -> list[str]:
    """Each serial's prize id as COPY text (``\\N`` for none); element 0 is serial 1."""
    if not batch.prize_plan:
        return []
    assignment = prize_assignment(
        seed_hex=batch.prize_assignment_seed,
        algorithm=batch.prize_assignment_algorithm,
        size=batch.size,
        prize_plan=batch.prize_plan,
    )
    return ["\\N" if prize_id is None else str(prize_id) for prize_id in assignment]


class _CodeSupply:
    """Fresh codes for the next chunk, generated in a background thread while the current
    chunk's COPY runs: generating codes is Python work and indexing them PostgreSQL's, so on
    two cores they overlap. The thread touches no database connection."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="code-supply")
        self._pending: tuple[int, Future[list[str]]] | None = None

    def take(self, count: int) -> list[str]:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == count:
            return pending[1].result()
        return _fresh_codes(count)

    def prefetch(self, count: int) -> None:
        if count > 0:
            self._pending = (count, self._executor.submit(_fresh_codes, count))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _fresh_codes(count: int) -> list[str]:
    return list(new_codes(count))


def _copy_next_chunk(
    *, run_id: int, batch: CodeBatch, prizes: list[str], supply: _CodeSupply
) -> bool:
    """Writes the next chunk of serials; False when the batch is complete."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != Run.Status.RUNNING or run.cursor >= batch.size:
            return False
        first = run.cursor + 1
        last = min(batch.size, run.cursor + CHUNK_SIZE)
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            values = supply.take(last - first + 1)
            if attempt == 1:
                supply.prefetch(min(CHUNK_SIZE, batch.size - last))
            try:
                with transaction.atomic():
                    _copy_codes(batch=batch, first=first, values=values, prizes=prizes)
                break
            except IntegrityError:
                if attempt == CHUNK_ATTEMPTS:
                    raise
                logger.warning(
                    "code clash in a new chunk, regenerating it",
                    extra={"code_batch_id": batch.pk, "first_serial": first},
                )
        Run.objects.filter(pk=run_id).update(
            cursor=last, processed_items=last, heartbeat_at=timezone.now()
        )
    return last < batch.size


def _copy_codes(*, batch: CodeBatch, first: int, values: list[str], prizes: list[str]) -> None:
    """COPYs ``values`` as serials ``first``, ``first + 1``, ... Rows go in sorted by code
    (serials stay as generated): the unique indexes on the code are then filled in one
    ordered pass per chunk instead of at random places."""
    prefix = f"{batch.pk}\t{batch.scheme_id}\t"
    rows = sorted(zip(values, range(first, first + len(values)), strict=True))
    if prizes:
        lines = [
            f"{prefix}{serial}\t{value}\t{prizes[serial - 1]}\tissued\n" for value, serial in rows
        ]
    else:
        lines = [f"{prefix}{serial}\t{value}\t\\N\tissued\n" for value, serial in rows]
    # psycopg's COPY bypasses Django's cursor wrapper: map its errors (a unique violation)
    # to Django's IntegrityError like any other statement.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(
            "COPY rewards_code (batch_id, scheme_id, serial, value, prize_id, status) FROM STDIN"
        ) as copy,
    ):
        copy.write("".join(lines))


def _fail(*, run_id: int, batch_id: int, error: Exception) -> None:
    with transaction.atomic():
        now = timezone.now()
        Run.objects.filter(pk=run_id).update(
            status=Run.Status.FAILED, finished_at=now, last_error=repr(error)[:2000]
        )
        CodeBatch.objects.filter(pk=batch_id).update(status=CodeBatch.Status.FAILED)
        audit_record(
            action="code_batch.failed",
            actor="code generation run",
            object_type="rewards.codebatch",
            object_id=batch_id,
            after={"run_id": run_id, "error": repr(error)[:500]},
        )


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrizeMismatch:
    serial: int
    code: str
    expected_prize_id: int | None
    stored_prize_id: int | None


@dataclass
class CodeBatchVerification:
    batch_id: int
    codes_checked: int = 0
    mismatch_count: int = 0
    mismatches: list[PrizeMismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def is_ok(self) -> bool:
        return not self.problems and not self.mismatch_count


def code_batch_verify(*, batch: CodeBatch) -> CodeBatchVerification:
    """Re-derives every code's prize from the recorded seed, algorithm and plan and
    compares it with what is stored; also checks the seed and plan against the audit
    trail and that serials run 1..size once each. Read-only."""
    result = CodeBatchVerification(batch_id=batch.pk)
    if batch.status != CodeBatch.Status.READY:
        result.problems.append(f"The batch is {batch.get_status_display().lower()}, not ready.")
    recorded = (
        AuditEvent.objects.filter(
            action="code_batch.generate", object_type="rewards.codebatch", object_id=str(batch.pk)
        )
        .order_by("pk")
        .first()
    )
    if recorded is None:
        result.problems.append("The audit trail has no record of this batch's generation.")
    elif recorded.after != _batch_audit_facts(batch):
        result.problems.append(
            "The batch's seed, algorithm, plan or size differ from what the audit trail "
            "recorded at generation."
        )
    if batch.prize_plan:
        try:
            expected: list[int | None] = prize_assignment(
                seed_hex=batch.prize_assignment_seed,
                algorithm=batch.prize_assignment_algorithm,
                size=batch.size,
                prize_plan=batch.prize_plan,
            )
        except (CodeBatchError, ValueError) as error:
            result.problems.append(f"The assignment cannot be re-derived: {error}")
            return result
    else:
        expected = [None] * batch.size
    expected_serial = 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT serial, value, prize_id FROM rewards_code WHERE batch_id = %s "
            "ORDER BY serial NULLS FIRST, id",
            [batch.pk],
        )
        while rows := cursor.fetchmany(10_000):
            for serial, value, prize_id in rows:
                expected_serial += 1
                result.codes_checked += 1
                if serial != expected_serial or serial > batch.size:
                    result.problems.append(
                        f"Serial numbers are not 1..{batch.size} once each "
                        f"(found {serial} where {expected_serial} was expected)."
                    )
                    return result
                if expected[serial - 1] != prize_id:
                    result.mismatch_count += 1
                    if len(result.mismatches) < MISMATCHES_REPORTED:
                        result.mismatches.append(
                            PrizeMismatch(serial, display(value), expected[serial - 1], prize_id)
                        )
    if result.codes_checked != batch.size:
        result.problems.append(
            f"The batch should have {batch.size:,} codes; {result.codes_checked:,} are stored."
        )
    return result


# --- export ------------------------------------------------------------------------------


def code_batch_export(
    *, batch: CodeBatch, actor: Any, include_prizes: bool = False
) -> Iterator[list[str]]:
    """Records the export in the audit trail and returns the CSV rows (header first), in
    serial order: the code in display form, and the prize name only when
    ``include_prizes`` (a confidential list for fulfilment, never for the printer of
    scratch cards)."""
    if batch.status != CodeBatch.Status.READY:
        raise CodeBatchError("Only a ready batch can be exported.")
    with transaction.atomic():
        audit_record(
            action="code_batch.export",
            actor=actor,
            target=batch,
            after={"include_prizes": include_prizes, "codes": batch.size},
        )
    return _export_rows(batch_id=batch.pk, include_prizes=include_prizes)


def _export_rows(*, batch_id: int, include_prizes: bool) -> Iterator[list[str]]:
    if not include_prizes:
        yield ["code"]
        rows = (
            Code.objects.filter(batch_id=batch_id)
            .order_by("serial", "pk")
            .values_list("value", flat=True)
            .iterator(chunk_size=10_000)
        )
        for value in rows:
            yield [display(value)]
        return
    prize_names = dict(
        Prize.objects.filter(codes__batch_id=batch_id).distinct().values_list("pk", "name")
    )
    yield ["serial", "code", "prize"]
    for serial, value, prize_id in (
        Code.objects.filter(batch_id=batch_id)
        .order_by("serial", "pk")
        .values_list("serial", "value", "prize_id")
        .iterator(chunk_size=10_000)
    ):
        yield [str(serial), display(value), prize_names.get(prize_id, "")]


# --- entry -------------------------------------------------------------------------------


class CodeEntryOutcome(StrEnum):
    FORMAT_ERROR = "format_error"
    UNKNOWN = "unknown"
    VOID = "void"
    ALREADY_ENTERED = "already_entered"
    ALREADY_YOURS = "already_yours"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    CLAIM_DEADLINE_PASSED = "claim_deadline_passed"
    NO_OPEN_DRAW = "no_open_draw"
    PRIZE_UNAVAILABLE = "prize_unavailable"
    NO_PRIZE = "no_prize"
    WON = "won"
    DRAW_ENTERED = "draw_entered"


ACCEPTED_OUTCOMES = frozenset(
    {
        CodeEntryOutcome.WON,
        CodeEntryOutcome.NO_PRIZE,
        CodeEntryOutcome.DRAW_ENTERED,
        CodeEntryOutcome.ALREADY_YOURS,
    }
)


@dataclass(frozen=True)
class CodeEntryResult:
    """What entering a code did. ``message`` is for the customer, in the active language.

    ``accepted`` outcomes belong to this customer's code (new or entered before by them);
    the others changed nothing.
    """

    outcome: CodeEntryOutcome
    message: str
    code_id: int | None = None
    scheme_id: int | None = None
    prize_id: int | None = None
    prize_name: str = ""
    draw_id: int | None = None
    draw_entry_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTED_OUTCOMES

    @property
    def is_winner(self) -> bool:
        return self.accepted and self.prize_id is not None


def code_enter(
    *,
    scheme_or_none: Scheme | None,
    text: str,
    customer: Customer,
    now: datetime | None = None,
) -> CodeEntryResult:
    """Enters the code a customer typed (any case, spaces or dashes) for ``scheme_or_none``
    (None: whatever campaign the code belongs to).

    Instant win: a code with a pre-assigned prize wins it (taken out of stock now);
    without, it is a non-winning code. Lucky draw: the code becomes an entry in the
    scheme's open draw (the one closing first). A code is entered once; entering it again
    as the same customer answers ``already_yours`` with the same prize or entry, so the
    portal can resume a claim. Rate limiting is the caller's job.
    """
    try:
        value = normalise(text)
    except CodeFormatError as error:
        return CodeEntryResult(CodeEntryOutcome.FORMAT_ERROR, str(error))
    now = now or timezone.now()
    with transaction.atomic():
        # Only the code row is locked: the second of two customers entering the same code
        # waits here, then reads it as entered by the first.
        code = (
            Code.objects.select_for_update(of=("self",))
            .select_related("scheme", "prize", "batch")
            .filter(value=value)
            .first()
        )
        if (
            code is None
            or code.batch.status != CodeBatch.Status.READY
            or (scheme_or_none is not None and code.scheme_id != scheme_or_none.pk)
        ):
            return CodeEntryResult(
                CodeEntryOutcome.UNKNOWN,
                _("We do not know this code for this campaign. Check it and try again."),
            )
        if code.status == Code.Status.VOID:
            return CodeEntryResult(
                CodeEntryOutcome.VOID,
                _("This code has been cancelled and can no longer be used."),
                code_id=code.pk,
                scheme_id=code.scheme_id,
            )
        if code.status == Code.Status.ENTERED:
            return _entered_before(code=code, customer=customer, now=now)
        refusal = _campaign_refusal(code.scheme, now)
        if refusal is not None:
            return CodeEntryResult(
                refusal[0], refusal[1], code_id=code.pk, scheme_id=code.scheme_id
            )
        if code.scheme.kind == Scheme.Kind.LUCKY_DRAW:
            return _enter_draw(code=code, customer=customer, now=now)
        return _enter_instant_win(code=code, customer=customer, now=now)


def _entered_before(*, code: Code, customer: Customer, now: datetime) -> CodeEntryResult:
    if code.entered_by_id != customer.pk:
        return CodeEntryResult(
            CodeEntryOutcome.ALREADY_ENTERED,
            _("This code has already been used."),
            code_id=code.pk,
            scheme_id=code.scheme_id,
        )
    deadline = code.scheme.claim_deadline_at
    if code.prize_id is not None and deadline is not None and now >= deadline:
        return CodeEntryResult(
            CodeEntryOutcome.CLAIM_DEADLINE_PASSED,
            _("The deadline for claiming prizes in this campaign has passed."),
            code_id=code.pk,
            scheme_id=code.scheme_id,
            prize_id=code.prize_id,
            prize_name=code.prize.name if code.prize else "",
        )
    entry = DrawEntry.objects.filter(code=code).first()
    return CodeEntryResult(
        CodeEntryOutcome.ALREADY_YOURS,
        _("You have already entered this code."),
        code_id=code.pk,
        scheme_id=code.scheme_id,
        prize_id=code.prize_id,
        prize_name=code.prize.name if code.prize else "",
        draw_id=entry.draw_id if entry else None,
        draw_entry_id=entry.pk if entry else None,
    )


def _campaign_refusal(scheme: Scheme, now: datetime) -> tuple[CodeEntryOutcome, str] | None:
    if now < scheme.starts_at:
        return CodeEntryOutcome.NOT_STARTED, _("This campaign has not started yet.")
    if scheme.ends_at is not None and now >= scheme.ends_at:
        return CodeEntryOutcome.ENDED, _("This campaign has ended.")
    if scheme.claim_deadline_at is not None and now >= scheme.claim_deadline_at:
        return (
            CodeEntryOutcome.CLAIM_DEADLINE_PASSED,
            _("The deadline for claiming prizes in this campaign has passed."),
        )
    return None


def _mark_entered(*, code: Code, customer: Customer, now: datetime) -> None:
    code.status = Code.Status.ENTERED
    code.entered_at = now
    code.entered_by = customer
    code.save(update_fields=["status", "entered_at", "entered_by"])


def _enter_instant_win(*, code: Code, customer: Customer, now: datetime) -> CodeEntryResult:
    if code.prize_id is not None:
        try:
            prize_reserve(prize_id=code.prize_id)
        except PrizeOutOfStock:
            logger.warning(
                "winning code entered but its prize is out of stock",
                extra={"code_id": code.pk, "prize_id": code.prize_id},
            )
            return CodeEntryResult(
                CodeEntryOutcome.PRIZE_UNAVAILABLE,
                _(
                    "This code wins a prize that is no longer in stock. Please contact "
                    "customer service; your code has not been used."
                ),
                code_id=code.pk,
                scheme_id=code.scheme_id,
            )
    _mark_entered(code=code, customer=customer, now=now)
    audit_record(
        action="code.enter",
        actor=f"customer:{customer.pk}",
        target=code,
        after={"customer_id": customer.pk, "prize_id": code.prize_id},
    )
    if code.prize is None:
        return CodeEntryResult(
            CodeEntryOutcome.NO_PRIZE,
            _("Sorry, this code did not win. Thank you for taking part!"),
            code_id=code.pk,
            scheme_id=code.scheme_id,
        )
    return CodeEntryResult(
        CodeEntryOutcome.WON,
        _("Congratulations! You have won: %(prize)s.") % {"prize": code.prize.name},
        code_id=code.pk,
        scheme_id=code.scheme_id,
        prize_id=code.prize_id,
        prize_name=code.prize.name,
    )


def _enter_draw(*, code: Code, customer: Customer, now: datetime) -> CodeEntryResult:
    draw = _open_draw_share_locked(scheme_id=code.scheme_id, now=now)
    if draw is None:
        return CodeEntryResult(
            CodeEntryOutcome.NO_OPEN_DRAW,
            _("No draw is open for entries right now; your code has not been used."),
            code_id=code.pk,
            scheme_id=code.scheme_id,
        )
    _mark_entered(code=code, customer=customer, now=now)
    entry = DrawEntry.objects.create(
        draw=draw, customer=customer, kind=DrawEntry.Kind.CODE, code=code
    )
    audit_record(
        action="code.enter",
        actor=f"customer:{customer.pk}",
        target=code,
        after={"customer_id": customer.pk, "draw_id": draw.pk, "draw_entry_id": entry.pk},
    )
    return CodeEntryResult(
        CodeEntryOutcome.DRAW_ENTERED,
        _("You are in the draw for %(prize)s. Good luck!") % {"prize": draw.prize.name},
        code_id=code.pk,
        scheme_id=code.scheme_id,
        draw_id=draw.pk,
        draw_entry_id=entry.pk,
    )


def _open_draw_share_locked(*, scheme_id: int, now: datetime) -> Draw | None:
    """The scheme's draw open for entries (closing first), share-locked until commit.

    ``draw_run`` takes the draw's row lock for update, so it waits for every entry in
    flight and each entry either commits before the draw reads the entry list or sees the
    draw closed: no entry is lost or added after the draw.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM rewards_draw WHERE scheme_id = %s AND status = %s "
            "AND entries_close_at > %s ORDER BY entries_close_at, id LIMIT 1 FOR SHARE",
            [scheme_id, Draw.Status.SCHEDULED, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    # A draw run that committed while we waited for the lock fails the re-checked WHERE,
    # so the row found here is still scheduled and open.
    return Draw.objects.select_related("prize").get(pk=row[0])


def codes_find(*, text: str) -> Q:
    """A filter for codes matching what an operator typed: the exact code in any form
    (case, spaces, dashes), or the start of one."""
    compact = "".join(text.split()).replace("-", "").upper()
    try:
        return Q(value=normalise(compact))
    except CodeFormatError:
        return Q(value__startswith=compact) if compact else Q(pk__in=[])


def code_void(*, code: Code, actor: Any, reason: str) -> Code:
    """Cancels a code that has not been entered (a lost or stolen card). A voided code
    with a pre-assigned prize no longer promises that prize, so the stock can be assigned
    again."""
    if not reason.strip():
        raise InvalidRequest("Say why the code is cancelled.")
    with transaction.atomic():
        locked = Code.objects.select_for_update().get(pk=code.pk)
        if locked.status == Code.Status.VOID:
            return locked
        if locked.status != Code.Status.ISSUED:
            raise InvalidTransition("An entered code cannot be cancelled.")
        locked.status = Code.Status.VOID
        locked.save(update_fields=["status"])
        audit_record(
            action="code.void",
            actor=actor,
            target=locked,
            before={"status": Code.Status.ISSUED},
            after={"status": Code.Status.VOID, "reason": reason.strip()[:200]},
        )
    return locked
