"""The confirmations in a date range with their queue time and claim as an index-only scan
(median time to decision): (decided_at) INCLUDE (queue_time, claim_id) WHERE decision =
'confirm'. Built after the backfill (0004) and CONCURRENTLY (``atomic = False``), so a
production migrate does not block checkers' decisions while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("verification", "0004_backfill_decision_queue_time")]

    operations = [
        AddIndexConcurrently(
            model_name="checkerdecision",
            index=models.Index(
                condition=models.Q(decision="confirm"),
                fields=["decided_at"],
                include=["queue_time", "claim"],
                name="decision_confirm_queue_time",
            ),
        ),
    ]
