"""The dashboards API's answers: the same figures the boards show (dashboards.selectors).
Amounts are integers in the scheme's minor unit, with the unit beside them."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MONTH_FORMAT = "%Y-%m"


class MonthField(serializers.DateField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=MONTH_FORMAT, **kwargs)


class UnitSerializer(serializers.Serializer):
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text="'points', or an ISO 4217 currency code."
    )
    exponent = serializers.IntegerField(
        help_text="Minor units per major unit are 10 to this power (0 for points)."
    )


class FiltersSerializer(serializers.Serializer):
    scheme = serializers.IntegerField(
        source="scheme.pk", allow_null=True, help_text="The scheme shown, or null for all."
    )
    month_from = MonthField()
    month_to = MonthField()


class ComputedAtSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the older of the two rollups was computed; null before the first run.",
    )
    ledger_computed_at = serializers.DateTimeField(allow_null=True)
    participants_computed_at = serializers.DateTimeField(allow_null=True)
    filters = FiltersSerializer()


class MonthFiguresSerializer(serializers.Serializer):
    month = MonthField()
    participants = serializers.IntegerField(help_text="Effective at the month's end.")
    sign_ups = serializers.IntegerField()
    terminations = serializers.IntegerField()
    awards = serializers.IntegerField(help_text="Award journals, net of reversed ones.")
    spends = serializers.IntegerField(help_text="Spend journals, net of reversed ones.")
    expirations = serializers.IntegerField(help_text="Expiration journals (one per wallet).")
    awarded_minor = serializers.IntegerField(
        allow_null=True, help_text="Null when the schemes shown count in different units."
    )
    spent_minor = serializers.IntegerField(allow_null=True)
    expired_minor = serializers.IntegerField(allow_null=True)
    clawed_back_minor = serializers.IntegerField(allow_null=True)
    awarded_not_spent_minor = serializers.IntegerField(
        allow_null=True, help_text="Running total at the month's end."
    )
    liability_minor = serializers.IntegerField(
        allow_null=True, help_text="Sum of the wallet balances at the month's end."
    )


class ReasonSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label

    def to_representation(self, instance: Any) -> dict[str, str]:
        value, label = instance
        return {"value": value, "label": str(label)}


class TerminationMonthSerializer(serializers.Serializer):
    month = MonthField()
    by_reason = serializers.DictField(child=serializers.IntegerField())
    total = serializers.IntegerField()


class OfferFiguresSerializer(serializers.Serializer):
    offer_id = serializers.IntegerField()
    offer_code = serializers.CharField()
    offer_name = serializers.CharField()
    scheme_id = serializers.IntegerField()
    scheme_name = serializers.CharField()
    unit = UnitSerializer()
    awards = serializers.IntegerField(help_text="Award lines (lots) the offer made that month.")
    awarded_minor = serializers.IntegerField()


class SchemeFiguresSerializer(serializers.Serializer):
    scheme_id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    unit = UnitSerializer()
    participants_effective = serializers.IntegerField()
    participants_terminated = serializers.IntegerField()
    liability_minor = serializers.IntegerField(help_text="Sum of the wallet balances now.")
    awarded_not_spent_minor = serializers.IntegerField()


class SignUpUnitSerializer(serializers.Serializer):
    scheme_id = serializers.IntegerField()
    scheme_name = serializers.CharField()
    merchant_id = serializers.IntegerField(allow_null=True, help_text="Null: no sign-up unit.")
    merchant_name = serializers.CharField()
    effective = serializers.IntegerField()
    terminated = serializers.IntegerField()


class MonthsSerializer(ComputedAtSerializer):
    unit = UnitSerializer(allow_null=True)
    months = MonthFiguresSerializer(many=True)


class TerminationsSerializer(ComputedAtSerializer):
    termination_reasons = ReasonSerializer(many=True)
    terminations = TerminationMonthSerializer(many=True)


class TopOffersSerializer(ComputedAtSerializer):
    top_offers_month = MonthField()
    top_offers = OfferFiguresSerializer(many=True)


class SchemesSerializer(ComputedAtSerializer):
    schemes = SchemeFiguresSerializer(many=True)


class SignUpUnitsSerializer(ComputedAtSerializer):
    sign_up_units = SignUpUnitSerializer(many=True)


class LoyaltyBoardSerializer(
    MonthsSerializer, TerminationsSerializer, TopOffersSerializer, SchemesSerializer
):
    participants_effective = serializers.IntegerField()
    liability_minor = serializers.IntegerField(allow_null=True)
    awarded_not_spent_minor = serializers.IntegerField(allow_null=True)
    sign_up_units = SignUpUnitSerializer(many=True)


class FilterErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.CharField(help_text="The same as message (kept for early clients).")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not .errors
        child=serializers.ListField(child=serializers.CharField())
    )


# -- the client campaign dashboard ----------------------------------------------------------


class CampaignFiltersSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign_id")
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    prize = serializers.IntegerField(source="prize.pk", allow_null=True)
    channel_partner = serializers.IntegerField(
        source="channel_partner.pk",
        allow_null=True,
        help_text="A channel partner user's own partner always.",
    )
    region = serializers.CharField(help_text="A county's ISO 3166-2:SE code; empty for all.")


class CampaignComputedAtSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(help_text="When these figures were counted.")
    filters = serializers.SerializerMethodField()

    @extend_schema_field(CampaignFiltersSerializer)
    def get_filters(self, board: Any) -> dict[str, Any]:
        filters = board.filters
        return CampaignFiltersSerializer(
            {
                "campaign_id": board.campaign.pk,
                "date_from": filters.date_from,
                "date_to": filters.date_to,
                "prize": filters.prize,
                "channel_partner": filters.channel_partner,
                "region": filters.region,
            }
        ).data


class FunnelStepSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    count = serializers.IntegerField()
    rate = serializers.FloatField(
        allow_null=True, help_text="Share of the step it converts from (0..1); null when 0."
    )
    rate_of = serializers.CharField(allow_null=True)


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    claims = serializers.IntegerField(help_text="Claims first submitted that day.")


class BacklogBucketSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class TimeToDecisionSerializer(serializers.Serializer):
    decisions = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)


class RejectionReasonCountSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Empty: the maker's own words.")
    text = serializers.CharField()
    count = serializers.IntegerField()


class PrizeFiguresSerializer(serializers.Serializer):
    prize_id = serializers.IntegerField()
    name = serializers.CharField()
    quantity_total = serializers.IntegerField()
    quantity_awarded = serializers.IntegerField(help_text="Prizes won so far.")
    quantity_left = serializers.IntegerField()
    claims = serializers.IntegerField(help_text="Claims for it submitted in the range.")


class PartnerFiguresSerializer(serializers.Serializer):
    channel_partner_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    submitted = serializers.IntegerField()
    in_review = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()


class RegionFiguresSerializer(serializers.Serializer):
    region = serializers.CharField(help_text="ISO 3166-2:SE county code; empty: none given.")
    name = serializers.CharField()
    submitted = serializers.IntegerField()
    in_review = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()


class BudgetSerializer(serializers.Serializer):
    unit = UnitSerializer()
    cap_minor = serializers.IntegerField(
        allow_null=True, help_text="The campaign's prize budget cap; null: no cap set."
    )
    spent_minor = serializers.IntegerField(
        help_text="In the filters: prize values of the claims approved or past it (released, "
        "dispatched, returned, delivered)."
    )
    committed_minor = serializers.IntegerField(
        help_text="In the filters: prize values of the claims still waiting for a decision."
    )
    total_spent_minor = serializers.IntegerField(
        allow_null=True,
        help_text="The whole campaign since it began, whatever the filters; null for a "
        "channel partner (who sees only its own claims).",
    )
    left_minor = serializers.IntegerField(
        allow_null=True,
        help_text="Cap minus the total spent (negative when overspent); null: no cap, or a "
        "channel partner.",
    )
    spent_share = serializers.FloatField(
        allow_null=True,
        help_text="Total spent over the cap (1.0 = all of it); null: no cap, a cap of 0, or "
        "a channel partner.",
    )


class CampaignFunnelSerializer(CampaignComputedAtSerializer):
    funnel = FunnelStepSerializer(many=True)


class CampaignDaysSerializer(CampaignComputedAtSerializer):
    days = DaySerializer(many=True)


class CampaignBacklogSerializer(CampaignComputedAtSerializer):
    backlog = BacklogBucketSerializer(many=True)
    backlog_total = serializers.IntegerField()
    time_to_decision = TimeToDecisionSerializer()


class CampaignRejectionReasonsSerializer(CampaignComputedAtSerializer):
    rejection_reasons = RejectionReasonCountSerializer(many=True)


class CampaignPrizesSerializer(CampaignComputedAtSerializer):
    prizes = PrizeFiguresSerializer(many=True)


class CampaignPartnersSerializer(CampaignComputedAtSerializer):
    channel_partners = PartnerFiguresSerializer(many=True)


class CampaignRegionsSerializer(CampaignComputedAtSerializer):
    regions = RegionFiguresSerializer(many=True)


class CampaignBudgetSerializer(CampaignComputedAtSerializer):
    budget = BudgetSerializer()


class CampaignDashboardSerializer(
    CampaignFunnelSerializer,
    CampaignRegionsSerializer,
    CampaignBudgetSerializer,
    CampaignDaysSerializer,
    CampaignBacklogSerializer,
    CampaignRejectionReasonsSerializer,
    CampaignPrizesSerializer,
    CampaignPartnersSerializer,
):
    campaign_id = serializers.IntegerField(source="campaign.pk")
    campaign_name = serializers.CharField(source="campaign.name")
    campaign_kind = serializers.CharField(source="campaign.kind")
