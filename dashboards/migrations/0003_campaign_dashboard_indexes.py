"""Indexes the campaign dashboard reads through, kept by the dashboards app (claims and
rewards own the tables; their models do not declare these, so their migration state is
unchanged and `makemigrations` stays quiet).

- claims_claim (scheme_id, submitted_at) INCLUDE (status, prize_id): every claims figure is
  one range of it per campaign and date range (counts by status, per day, per prize) and
  can be answered from the index alone.
- rewards_code (scheme_id, entered_at) WHERE status = 'entered': codes entered in a range.
"""

from django.db import migrations

CLAIMS_INDEX = "dashboards_claim_scheme_submitted"
CODES_INDEX = "dashboards_code_scheme_entered"


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0002_rollup_states_and_refresh_schedule"),
        ("claims", "0002_claims_documents_transitions_shipments"),
        ("rewards", "0006_code_serials_prize_plans_and_draws"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {CLAIMS_INDEX} ON claims_claim "
            "(scheme_id, submitted_at) INCLUDE (status, prize_id)",
            f"DROP INDEX IF EXISTS {CLAIMS_INDEX}",
        ),
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {CODES_INDEX} ON rewards_code "
            "(scheme_id, entered_at) WHERE status = 'entered'",
            f"DROP INDEX IF EXISTS {CODES_INDEX}",
        ),
    ]
