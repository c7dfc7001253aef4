"""Indexes for the campaign dashboard's live figures at 100,000 claims (issue 7's bar; the
measurements are in docs/BENCHMARKS.md, Dashboards). Like 0003, kept by the dashboards app
as RunSQL, so the claims and verification migration states are untouched.

- claims_claim (scheme_id, submitted_at) INCLUDE (status, prize_id, channel_partner_id,
  region, id) replaces 0003's narrower index under the same name
  (dashboards_claim_scheme_submitted): the one grouped pass over a campaign's date range
  (counts by status, day, prize, partner, county; budget sums) and the campaign's claims
  for the median's join are index-only scans.
- claims_claim (scheme_id) INCLUDE (...) WHERE status is waiting (submitted, in review,
  proposed): the backlog's claims of one campaign without reading the table.
- claims_claimtransition (claim_id, occurred_at) WHERE to_status = 'submitted': a claim's
  latest move to submitted (its queue time: backlog by age, median time to decision) in one
  backward index probe.
- rewards_code (scheme_id) INCLUDE (batch_id, prize_id, status, entered_at, id): codes
  issued and entered of one campaign (joined to its ready batches) without the table.
- verification_proposal (claim_id) INCLUDE (rejection_reason_id) WHERE the proposal is a
  confirmed rejection: the rejection reasons of a campaign's rejected claims.
- verification_checkerdecision (decided_at) INCLUDE (claim_id, proposal_id) WHERE decision
  = 'confirm': the confirmations in a date range (median time to decision).

Built CONCURRENTLY (outside a transaction: ``atomic = False``), so a production migrate
does not block claim writes while they build.
"""

from django.db import migrations

CLAIMS_INDEX = "dashboards_claim_scheme_submitted"  # 0003's name, kept
WIDE_CLAIMS_INDEX = "dashboards_claim_scheme_submitted_wide"  # while it builds

INDEXES = {
    WIDE_CLAIMS_INDEX: (
        "claims_claim (scheme_id, submitted_at) "
        "INCLUDE (status, prize_id, channel_partner_id, region, id)"
    ),
    "dashboards_claim_scheme_waiting": (
        "claims_claim (scheme_id) INCLUDE (id, channel_partner_id, submitted_at, created_at) "
        "WHERE status IN ('submitted', 'in_review', 'proposed')"
    ),
    "dashboards_transition_claim_submitted": (
        "claims_claimtransition (claim_id, occurred_at) WHERE to_status = 'submitted'"
    ),
    "dashboards_code_scheme_batch": (
        "rewards_code (scheme_id) INCLUDE (batch_id, prize_id, status, entered_at, id)"
    ),
    "dashboards_proposal_rejected_claim": (
        "verification_proposal (claim_id) INCLUDE (rejection_reason_id) "
        "WHERE outcome = 'reject' AND status = 'confirmed'"
    ),
    "dashboards_decision_confirmed_decided": (
        "verification_checkerdecision (decided_at) INCLUDE (claim_id, proposal_id) "
        "WHERE decision = 'confirm'"
    ),
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dashboards", "0005_export_purge_schedule"),
        ("claims", "0004_claim_channel_partner_and_region"),
        ("verification", "0002_decision_and_fulfilment_composite_keys"),
    ]

    operations = [
        *(
            migrations.RunSQL(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, definition in INDEXES.items()
        ),
        # The wide index takes the narrow one's place (and name): it answers all it did.
        migrations.RunSQL(
            f"DROP INDEX CONCURRENTLY IF EXISTS {CLAIMS_INDEX}",
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {CLAIMS_INDEX} ON claims_claim "
            "(scheme_id, submitted_at) INCLUDE (status, prize_id)",
        ),
        migrations.RunSQL(
            f"ALTER INDEX {WIDE_CLAIMS_INDEX} RENAME TO {CLAIMS_INDEX}",
            f"ALTER INDEX {CLAIMS_INDEX} RENAME TO {WIDE_CLAIMS_INDEX}",
        ),
    ]
