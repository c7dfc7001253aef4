"""Three instant-win campaigns built through the claims and verification services, with the
figures of each worked out by hand (used by the campaign dashboard tests)."""

from dataclasses import dataclass
from typing import Any

from claims import services as claim_services
from claims.models import Claim, ClaimStatus
from crm.roles import Role
from rewards.models import CodeBatch, Prize, Scheme
from tests.claims.factories import (
    InstantWinSchemeFactory,
    PrizeFactory,
    draft_claim,
    make_codes,
    portal_customer,
)
from tests.crm.factories import ChannelPartnerFactory, ClientFactory, staff_user
from tests.verification.factories import (
    approved_claim,
    checker,
    proposed_claim,
    submitted_claim,
    unique_receipt,
)
from verification import services
from verification.models import CampaignReviewSettings


@dataclass
class Campaigns:
    """Client A runs campaign 1 through partner 1 and campaign 2 through partner 2; client B
    runs campaign B through partner B."""

    client_a: Any
    client_b: Any
    partner_1: Any
    partner_2: Any
    partner_b: Any
    campaign_1: Scheme
    campaign_2: Scheme
    campaign_b: Scheme
    prize_x: Prize
    prize_y: Prize
    prize_2: Prize
    prize_b: Prize


def campaign_run_by(client: Any, partner: Any, name: str) -> Scheme:
    campaign = InstantWinSchemeFactory(client=client, name=name)
    CampaignReviewSettings.objects.create(scheme=campaign, channel_partner=partner)
    return campaign


def build_campaigns() -> Campaigns:
    """Campaign 1 (prizes X, stock 10, worth 1,500, and Y, stock 5, worth 4,000; a prize
    budget cap of 10,000), all today, every claim partner 1's (the campaign's partner):

    - 3 codes printed for X and never entered;
    - claim for X submitted and left waiting in the queue, county Stockholm (SE-AB);
    - claim for X approved (maker and checker), Stockholm;
    - claim for Y rejected, reason "before-campaign" (its prize goes back to stock), Skåne;
    - claim for Y approved, then delivered, no county given.

    Campaign 2 and campaign B: one submitted claim each (not partner 1's rows).
    """
    client_a, client_b = ClientFactory(name="Client A"), ClientFactory(name="Client B")
    partner_1 = ChannelPartnerFactory(client=client_a, name="North region")
    partner_2 = ChannelPartnerFactory(client=client_a, name="South region")
    partner_b = ChannelPartnerFactory(client=client_b, name="B's distributor")
    campaign_1 = campaign_run_by(client_a, partner_1, "Summer scratch card")
    campaign_2 = campaign_run_by(client_a, partner_2, "Winter scratch card")
    campaign_b = campaign_run_by(client_b, partner_b, "B's scratch card")
    Scheme.objects.filter(pk=campaign_1.pk).update(prize_budget_minor=10_000)
    campaign_1.prize_budget_minor = 10_000
    prize_x = PrizeFactory(
        scheme=campaign_1, name="Headphones", quantity_total=10, value_minor=1_500
    )
    prize_y = PrizeFactory(scheme=campaign_1, name="Speaker", quantity_total=5, value_minor=4_000)
    prize_2 = PrizeFactory(scheme=campaign_2, name="Winter jacket", quantity_total=4)
    prize_b = PrizeFactory(scheme=campaign_b, name="B's bicycle", quantity_total=2)

    make_codes(campaign_1, prize=prize_x, count=3)
    submitted_claim(prize=prize_x, details={"region": "SE-AB"})
    approved_claim(prize=prize_x, details={"region": "SE-AB"})
    rejected, _proposal = proposed_claim(
        prize=prize_y, outcome="reject", details={"region": "SE-M"}
    )
    services.proposal_decide(claim=rejected, actor=checker(), decision="confirm")
    delivered, _decision = approved_claim(prize=prize_y)
    # Release, dispatch and delivery are fulfilment's (tested there); here only the status
    # the dashboard counts matters, so the row is moved on directly.
    Claim.objects.filter(pk=delivered.pk).update(status=ClaimStatus.DELIVERED)
    submitted_claim(prize=prize_2)
    submitted_claim(prize=prize_b)
    return Campaigns(
        client_a,
        client_b,
        partner_1,
        partner_2,
        partner_b,
        campaign_1,
        campaign_2,
        campaign_b,
        prize_x,
        prize_y,
        prize_2,
        prize_b,
    )


# Campaign 1 by hand (build_campaigns): 3 unentered codes + 4 entered ones.
EXPECTED_FUNNEL_1 = {
    "codes_issued": 7,
    "codes_entered": 4,
    "submitted": 4,
    "in_review": 1,
    "approved": 2,
    "rejected": 1,
    "dispatched": 1,
    "delivered": 1,
}
EXPECTED_RATES_1 = {
    "codes_issued": None,
    "codes_entered": round(4 / 7, 4),
    "submitted": 1.0,
    "in_review": 0.25,
    "approved": 0.5,
    "rejected": 0.25,
    "dispatched": 0.5,
    "delivered": 1.0,
}
# Headphones: 2 won (both claims entered a code for it); Speaker: 2 won, 1 given back.
EXPECTED_PRIZES_1 = [
    {
        "name": "Headphones",
        "quantity_total": 10,
        "quantity_awarded": 2,
        "quantity_left": 8,
        "claims": 2,
    },
    {
        "name": "Speaker",
        "quantity_total": 5,
        "quantity_awarded": 1,
        "quantity_left": 4,
        "claims": 2,
    },
]


def claim_through_batch_of(partner: Any, *, prize: Prize, region: str) -> Claim:
    """A submitted claim of a code from a batch distributed through ``partner``: the claim
    is the partner's whatever the campaign's review settings name."""
    code = make_codes(prize.scheme, prize=prize)[0]
    CodeBatch.objects.filter(pk=code.batch_id).update(channel_partner=partner)
    account = portal_customer()
    claim = draft_claim(account=account, code=code, complete=False)
    claim_services.claim_details_update(
        claim=claim,
        actor=account.user,
        details={
            "full_name": "Sam South",
            "address_line1": "Sjögatan 9",
            "postal_code": "411 01",
            "city": "Göteborg",
            "region": region,
        },
    )
    claim_services.claim_document_add(
        claim=claim, actor=account.user, kind="invoice", upload=unique_receipt(9_876)
    )
    claim_services.claim_submit(claim=claim, actor=account.user)
    return Claim.objects.get(pk=claim.pk)


# Campaign 1 by county and budget (build_campaigns), partner 1's rows.
EXPECTED_REGIONS_1 = [
    {
        "region": "SE-AB",
        "name": "Stockholm County",
        "submitted": 2,
        "in_review": 1,
        "approved": 1,
        "rejected": 0,
    },
    {
        "region": "SE-M",
        "name": "Skåne County",
        "submitted": 1,
        "in_review": 0,
        "approved": 0,
        "rejected": 1,
    },
    {
        "region": "",
        "name": "No county given",
        "submitted": 1,
        "in_review": 0,
        "approved": 1,
        "rejected": 0,
    },
]
# Spent: approved X (1,500) + delivered Y (4,000); committed: the waiting X claim. A channel
# partner sees its own spent and committed but not the campaign's total or what is left.
EXPECTED_BUDGET_1 = {
    "unit": {"label": "points", "exponent": 0},
    "cap_minor": 10_000,
    "spent_minor": 5_500,
    "committed_minor": 1_500,
    "total_spent_minor": None,
    "left_minor": None,
    "spent_share": None,
}
# A client manager also sees what the whole campaign has spent since it began.
EXPECTED_BUDGET_1_WHOLE = {
    **EXPECTED_BUDGET_1,
    "total_spent_minor": 5_500,
    "left_minor": 4_500,
    "spent_share": 0.55,
}


def partner_user(client: Any, partner: Any) -> Any:
    user = staff_user(Role.CHANNEL_PARTNER)
    profile = user.staff_profile
    profile.client, profile.channel_partner = client, partner
    profile.save(update_fields=["client", "channel_partner"])
    return user
