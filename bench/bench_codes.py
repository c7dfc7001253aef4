"""Code batch generation: 1,000,000 instant-win codes (0.1% pre-assigned a prize) generated
and inserted by ``rewards.services.codes.code_batch_generate``, run inline as the Celery task
would run it.

Bar (issue 4): under 60 s for 1,000,000 codes on this 2-core machine. Baseline: a raw
``COPY ... FROM STDIN`` of the very rows the service wrote, read back into memory first,
into an empty copy of ``rewards_code`` with the same indexes (``LIKE ... INCLUDING ALL``,
no foreign keys): what PostgreSQL needs just to store and index them. The ratio shows what
generating the codes (``secrets``, check characters), the seeded shuffle, the foreign-key
checks and the chunked, resumable transactions add on top.

Standalone: ``DATABASE_URL=postgres://.../db python -m bench.bench_codes [scale]`` (the
database must exist; it is migrated). The harness calls ``main(scale)`` with Django set up.
"""

import os
import sys
import time
from dataclasses import dataclass

CODES = 1_000_000
BAR_SECONDS = 60.0
PRIZE_SHARE = 1_000  # one code in a thousand wins


@dataclass
class CodeBenchResult:
    """One report line, with the attributes the bench harness reads."""

    benchmark: str
    figure: str
    baseline: str = ""
    ratio: float | None = None
    ratio_note: str = ""
    bar: str = ""
    passed: bool | None = None
    notes: str = ""


def _setup_standalone() -> None:
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _say(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _raw_copy_seconds(batch_id: int) -> tuple[float, int]:
    """Times a raw COPY of the batch's rows into an indexed copy of the table."""
    from django.db import connection

    columns = "batch_id, scheme_id, serial, value, prize_id, status"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        cursor.execute("DROP TABLE IF EXISTS bench_code_copy")
        cursor.execute("CREATE TABLE bench_code_copy (LIKE rewards_code INCLUDING ALL)")
        with raw.copy(
            f"COPY (SELECT {columns} FROM rewards_code WHERE batch_id = {int(batch_id)} "
            "ORDER BY serial) TO STDOUT"
        ) as copy:
            payload = b"".join(bytes(chunk) for chunk in copy)
        cursor.execute("CHECKPOINT")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY bench_code_copy ({columns}) FROM STDIN") as copy:
            view = memoryview(payload)
            for offset in range(0, len(payload), 1 << 20):
                copy.write(view[offset : offset + (1 << 20)])
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_code_copy")
    return elapsed, payload.count(b"\n")


def _clean_up(*, scheme_id: int, client_id: int) -> None:
    """Removes the benchmark's rows (audit events stay: the trail is append-only)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM rewards_code WHERE scheme_id = %s", [scheme_id])
        cursor.execute("SELECT run_id FROM rewards_codebatch WHERE scheme_id = %s", [scheme_id])
        run_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("DELETE FROM rewards_codebatch WHERE scheme_id = %s", [scheme_id])
        cursor.execute("DELETE FROM rewards_run WHERE id = ANY(%s)", [run_ids])
        cursor.execute("DELETE FROM rewards_prize WHERE scheme_id = %s", [scheme_id])
        cursor.execute("DELETE FROM rewards_scheme WHERE id = %s", [scheme_id])
        cursor.execute("DELETE FROM crm_client WHERE id = %s", [client_id])


def main(scale: float = 1.0) -> list[CodeBenchResult]:
    _setup_standalone()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from crm.models import Client
    from rewards.models import Code, Prize, Scheme
    from rewards.services.codes import code_batch_generate, code_batch_verify

    size = max(1_000, round(CODES * scale))
    tag = f"bench-codes-{int(time.time())}"
    client = Client.objects.create(name=tag, code=tag)
    scheme = Scheme.objects.create(
        client=client,
        name=tag,
        code=tag,
        kind=Scheme.Kind.INSTANT_WIN,
        starts_at=timezone.now() - timedelta(days=1),
    )
    prize = Prize.objects.create(
        scheme=scheme, name="Bench prize", kind=Prize.Kind.PHYSICAL, quantity_total=size
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        load = os.getloadavg()
        _say(f"generating {size:,} codes ({size // PRIZE_SHARE:,} with a prize)")
        start = time.perf_counter()
        batch = code_batch_generate(
            scheme=scheme,
            size=size,
            actor="bench",
            prize_plan={prize.pk: size // PRIZE_SHARE},
            inline=True,
        )
        generation = time.perf_counter() - start
        stored = Code.objects.filter(batch=batch).count()
        assert stored == size, f"{stored} codes stored, {size} wanted"
        _say(f"generated and inserted in {generation:.1f} s ({size / generation:,.0f} codes/s)")
        baseline, rows = _raw_copy_seconds(batch.pk)
        _say(f"raw COPY of the same {rows:,} rows: {baseline:.1f} s")
        start = time.perf_counter()
        verification = code_batch_verify(batch=batch)
        verify_seconds = time.perf_counter() - start
        _say(f"verify_code_batch: {verify_seconds:.1f} s, ok={verification.is_ok}")
    finally:
        _clean_up(scheme_id=scheme.pk, client_id=client.pk)
    full_size = size >= CODES
    notes = (
        f"load before {load[0]:.2f}; one transaction per 50,000-code chunk; baseline has no "
        "foreign keys"
    )
    results = [
        CodeBenchResult(
            benchmark=f"codes: generate {size:,}",
            figure=f"{generation:.1f} s",
            baseline=f"{baseline:.1f} s raw COPY",
            ratio=round(generation / baseline, 2) if baseline else None,
            ratio_note="service / raw COPY time",
            bar=f"< {BAR_SECONDS:.0f} s for {CODES:,}",
            passed=(generation < BAR_SECONDS) if full_size else None,
            notes=notes if full_size else f"scaled run (no bar); {notes}",
        ),
        CodeBenchResult(
            benchmark=f"codes: verify {size:,}",
            figure=f"{verify_seconds:.1f} s",
            passed=None,
            notes="re-derives every prize from the seed"
            + ("" if verification.is_ok else "; FAILED"),
        ),
    ]
    for result in results:
        ratio = f"  ratio {result.ratio} ({result.ratio_note})" if result.ratio else ""
        print(f"{result.benchmark}: {result.figure}  baseline {result.baseline or '-'}{ratio}")
    return results


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
