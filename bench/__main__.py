"""`python -m bench [name ...] [--scale S]`: the benchmarks of docs/BENCHMARKS.md.

Creates (or recreates) the dedicated database named by BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/campaigns_bench), migrates it, runs each selected
benchmark module ``bench/bench_<name>.py`` (all of them without names) and prints one table:
benchmark, figure, baseline, ratio, bar, pass/miss. ``--scale 0.01`` shrinks every size for a
quick smoke run (its figures mean little). The exit status is 1 if a bar was missed.
"""

import argparse
import importlib
import inspect
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from bench.common import Result, database_name, database_url, machine_load, maintenance_url

BENCH_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(
        module.name.removeprefix("bench_")
        for module in pkgutil.iter_modules([str(BENCH_DIR)])
        if module.name.startswith("bench_")
    )


def recreate_database(url: str) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["BENCH_DATABASE_URL"] = url
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def run_one(name: str, scale: float) -> list[Result]:
    """Imports bench/bench_<name>.py and calls its main: ``main(scale)`` when it takes an
    argument, ``main()`` otherwise. Anything it returns that is not a list of Result (a
    module written elsewhere may print its own figures) is shown as an info line."""
    module = importlib.import_module(f"bench.bench_{name}")
    main = module.main
    parameters = inspect.signature(main).parameters
    if parameters:
        first = next(iter(parameters.values()))
        value = main(scale) if first.kind != first.KEYWORD_ONLY else main(**{first.name: scale})
    else:
        value = main()
    if isinstance(value, Result):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(item, Result) for item in value):
        return list(value)
    if isinstance(value, list | tuple) and all(
        hasattr(item, "benchmark") and hasattr(item, "figure") for item in value
    ):
        return [
            Result(**{key: getattr(item, key) for key in Result.__slots__ if hasattr(item, key)})
            for item in value
        ]
    return [Result(benchmark=name, figure="see output above" if value is None else str(value))]


def print_table(results: list[Result]) -> None:
    headers = ("benchmark", "figure", "baseline", "ratio", "bar", "result")
    rows = [
        (
            result.benchmark,
            result.figure,
            result.baseline,
            f"{result.ratio:.2f} {result.ratio_note}".strip() if result.ratio is not None else "",
            result.bar,
            result.verdict,
        )
        for result in results
    ]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * width for width in widths)
    print()
    print("  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    notes = [(result.benchmark, result.notes) for result in results if result.notes]
    if notes:
        print()
        for benchmark, note in notes:
            print(f"* {benchmark}: {note}")


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of: {', '.join(names)}")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every size (0.01 for a smoke run)"
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="reuse the benchmark database as it is (migrated) instead of recreating it",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(names)}")
    selected = args.names or names
    url = database_url()
    print(f"bench: database {database_name(url)}, scale {args.scale:g}, {machine_load()}")
    if not args.keep_database:
        recreate_database(url)
    setup_django(url)
    migrate()
    results: list[Result] = []
    failed = False
    for name in selected:
        print(f"\n== {name} ({machine_load()})", flush=True)
        started = time.perf_counter()
        try:
            results += run_one(name, args.scale)
        except Exception:  # report it and go on with the other benchmarks
            traceback.print_exc()
            results.append(Result(benchmark=name, figure="crashed (see above)", passed=False))
            failed = True
        print(f"   {name} took {time.perf_counter() - started:.0f} s ({machine_load()})")
    print_table(results)
    print(f"\nscale {args.scale:g}; {machine_load()} at the end")
    return 1 if failed or any(result.passed is False for result in results) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR.parent))
    sys.exit(main())
