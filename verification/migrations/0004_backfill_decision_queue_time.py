"""Fill ``queue_time`` of the decisions made before it was stored, in one set-based UPDATE:
``decided_at`` minus the claim's latest move to submitted at or before the decision (the
definition ``proposal_decide`` stores and ``median_time_to_decision`` used to compute).

Runnable twice: it touches only rows still empty, and a row stays empty only when its claim
never moved to submitted (recomputing gives empty again). Nothing to undo on reverse: the
column itself goes with 0003's reverse."""

from django.db import migrations
from django.db.models import DurationField, ExpressionWrapper, F, OuterRef, Subquery


def fill_queue_time(apps, schema_editor):
    CheckerDecision = apps.get_model("verification", "CheckerDecision")
    ClaimTransition = apps.get_model("claims", "ClaimTransition")
    entered = (
        ClaimTransition.objects.filter(
            claim_id=OuterRef("claim_id"),
            to_status="submitted",
            occurred_at__lte=OuterRef("decided_at"),
        )
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    CheckerDecision.objects.filter(queue_time__isnull=True).update(
        queue_time=ExpressionWrapper(F("decided_at") - Subquery(entered), DurationField())
    )


class Migration(migrations.Migration):
    dependencies = [
        ("verification", "0003_checkerdecision_queue_time"),
        ("claims", "0005_backfill_claim_channel_partner"),
    ]

    operations = [migrations.RunPython(fill_queue_time, migrations.RunPython.noop)]
