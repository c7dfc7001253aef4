"""The dashboards API's answers: the same figures the boards show (dashboards.selectors).
Amounts are integers in the scheme's minor unit, with the unit beside them."""

from typing import Any

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
    detail = serializers.CharField()
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not .errors
        child=serializers.ListField(child=serializers.CharField())
    )
