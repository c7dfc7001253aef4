from django.core.management.base import BaseCommand, CommandError

from crm.audit import audit_chain_breaks
from crm.models import AuditEvent


class Command(BaseCommand):
    help = "Checks the audit trail's hash chain; exits non-zero if any row was altered."

    def handle(self, *args: object, **options: object) -> None:
        breaks = list(audit_chain_breaks())
        for chain_break in breaks:
            self.stderr.write(f"audit event {chain_break.event_id}: {chain_break.reason}")
        if breaks:
            first = breaks[0]
            raise CommandError(
                f"The audit chain is broken at {len(breaks)} place(s), first at audit event "
                f"{first.event_id}: {first.reason}."
            )
        count = AuditEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"The audit chain is intact ({count} events)."))
