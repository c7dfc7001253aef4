"""Re-derives a code batch's prize assignment from its recorded seed and reports any code
whose stored prize differs. Exit status 1 when anything is wrong."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rewards.models import CodeBatch, Prize
from rewards.services.codes import code_batch_verify


def _prize_name(names: dict[int, str], prize_id: int | None) -> str:
    return "no prize" if prize_id is None else names.get(prize_id, "an unknown prize")


class Command(BaseCommand):
    help = "Checks that a code batch's pre-assigned prizes are the ones its seed gives."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        batch = CodeBatch.objects.filter(pk=options["batch_id"]).select_related("scheme").first()
        if batch is None:
            raise CommandError(f"There is no code batch {options['batch_id']}.")
        self.stdout.write(
            f"Batch {batch.pk}: {batch.size:,} codes for {batch.scheme}; algorithm "
            f"{batch.prize_assignment_algorithm or '(no prizes pre-assigned)'}; "
            f"plan {batch.prize_plan or '{}'}"
        )
        result = code_batch_verify(batch=batch)
        names = dict(Prize.objects.filter(scheme=batch.scheme).values_list("pk", "name"))
        for problem in result.problems:
            self.stdout.write(self.style.ERROR(f"  {problem}"))
        for mismatch in result.mismatches:
            expected = _prize_name(names, mismatch.expected_prize_id)
            stored = _prize_name(names, mismatch.stored_prize_id)
            self.stdout.write(
                self.style.ERROR(
                    f"  serial {mismatch.serial} ({mismatch.code}): should be {expected} "
                    f"(#{mismatch.expected_prize_id}), stored {stored} "
                    f"(#{mismatch.stored_prize_id})"
                )
            )
        if result.mismatch_count > len(result.mismatches):
            self.stdout.write(
                self.style.ERROR(
                    f"  ... and {result.mismatch_count - len(result.mismatches):,} more"
                )
            )
        if not result.is_ok:
            raise CommandError(
                f"Batch {batch.pk} does NOT match its seed: {result.mismatch_count:,} codes "
                f"differ, {len(result.problems)} other problems."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: all {result.codes_checked:,} codes carry the prize their seed gives."
            )
        )
