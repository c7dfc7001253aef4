"""Gives every claim made before claims carried a partner the one its campaign ran through:
the partner its code batch names (none did before this round), else the partner of the
campaign's review settings. Only claims without a partner are touched, so it can run twice."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def backfill_channel_partner(apps, schema_editor):
    Claim = apps.get_model("claims", "Claim")
    Code = apps.get_model("rewards", "Code")
    CampaignReviewSettings = apps.get_model("verification", "CampaignReviewSettings")
    unset = Claim.objects.filter(channel_partner__isnull=True)
    unset.filter(code__isnull=False).update(
        channel_partner_id=Subquery(
            Code.objects.filter(pk=OuterRef("code_id")).values("batch__channel_partner_id")[:1]
        )
    )
    unset.update(
        channel_partner_id=Subquery(
            CampaignReviewSettings.objects.filter(scheme_id=OuterRef("scheme_id")).values(
                "channel_partner_id"
            )[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0004_claim_channel_partner_and_region"),
        ("rewards", "0010_code_batch_channel_partner_and_prize_budget"),
        ("verification", "0002_decision_and_fulfilment_composite_keys"),
    ]

    operations = [
        migrations.RunPython(backfill_channel_partner, migrations.RunPython.noop, elidable=True),
    ]
