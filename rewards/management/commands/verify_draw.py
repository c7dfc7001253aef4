"""Re-derives a lucky draw's winners and reserves from its revealed seed and the stored
entry list, and checks them against the published seed hash and the stored results.
Exit status 1 when anything is wrong."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rewards.models import Draw, DrawResult
from rewards.services.draws import draw_verify


class Command(BaseCommand):
    help = "Checks that a lucky draw's results are the ones its seed and entries give."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("draw_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        draw = Draw.objects.filter(pk=options["draw_id"]).select_related("prize").first()
        if draw is None:
            raise CommandError(f"There is no draw {options['draw_id']}.")
        self.stdout.write(
            f"Draw {draw.pk} ({draw}): {draw.winners_count} winners, {draw.reserves_count} "
            f"reserves, algorithm {draw.algorithm}"
        )
        self.stdout.write(f"  published seed hash: {draw.seed_hash}")
        result = draw_verify(draw=draw)
        if draw.status == Draw.Status.DRAWN:
            self.stdout.write(f"  revealed seed:       {draw.seed}")
            self.stdout.write(
                f"  entries: {result.entries_count:,} now, {draw.entries_count:,} at the draw; "
                f"digest {draw.entries_digest}"
            )
            winners = draw.winners_count
            for position, entry_id in enumerate(result.derived_entry_ids, start=1):
                role = "winner " if position <= winners else "reserve"
                self.stdout.write(f"  {role} {position:>3}: entry {entry_id}")
        for problem in result.problems:
            self.stdout.write(self.style.ERROR(f"  {problem}"))
        if not result.is_ok:
            raise CommandError(f"Draw {draw.pk} does NOT verify.")
        stored = DrawResult.objects.filter(draw=draw).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: the seed matches its published hash and re-derives all {stored} results."
            )
        )
