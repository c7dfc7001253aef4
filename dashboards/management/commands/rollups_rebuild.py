"""Recomputes the dashboards' rollup tables from the ledger and the participants."""

from typing import Any

from django.core.management.base import BaseCommand

from dashboards.services import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Recomputes every dashboard rollup from scratch in one transaction (the dashboards "
        "show the previous figures until it commits). Safe to run at any time."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=50_000,
            help="Journals counted per statement (default 50,000).",
        )

    def handle(self, *args: Any, chunk_size: int, **options: Any) -> None:
        for result in rollups_rebuild(chunk_size=chunk_size):
            computed_at = f"{result.computed_at:%Y-%m-%d %H:%M:%S %Z}"
            self.stdout.write(f"{result.name}: {result.rows} rows, computed at {computed_at}")
