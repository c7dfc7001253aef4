from typing import Any

from rest_framework import serializers

from rewards.models import (
    AwardLot,
    CustomerEvent,
    Journal,
    Offer,
    Participant,
    ParticipantIdentifier,
)

# Integers stored in bigint columns: a larger one is refused with a 400, not a database error.
MAX_MINOR = 2**63 - 1
MAX_LINES = 500
EVENT_TYPES = frozenset(CustomerEvent.Type.values)
EVENT_PROCESS_CHOICES = ("immediate", "queued")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    errors = serializers.DictField(required=False)


class CustomerInputSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, allow_blank=True, max_length=16)
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("phone") and not attrs.get("email"):
            raise serializers.ValidationError("Give the customer's phone or email.")
        return attrs


class IdentifierSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ParticipantIdentifier.Kind.choices)
    value = serializers.CharField(
        min_length=1, max_length=100, help_text="A card number or id, as scanned."
    )


class ParticipantCreateSerializer(serializers.Serializer):
    scheme = serializers.SlugField(help_text="The scheme's code.")
    customer = CustomerInputSerializer()
    reference_code = serializers.CharField(required=False, allow_blank=True, max_length=100)
    referred_by = serializers.IntegerField(required=False, allow_null=True)
    time_zone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    birth_date = serializers.DateField(required=False, allow_null=True)
    segments = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, max_length=50
    )
    identifiers = IdentifierSerializer(
        many=True,
        required=False,
        max_length=10,
        help_text="Loyalty cards, app ids: each unique per scheme and kind.",
    )


class ParticipantSerializer(serializers.ModelSerializer):
    scheme = serializers.SlugRelatedField(slug_field="code", read_only=True)
    replaced_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    identifiers = IdentifierSerializer(many=True, read_only=True)

    class Meta:
        model = Participant
        fields = [
            "id",
            "scheme",
            "status",
            "signed_up_at",
            "reference_code",
            "terminated_at",
            "termination_reason",
            "replaced_by",
            "identifiers",
        ]


class IdentifierLookupSerializer(serializers.Serializer):
    scheme = serializers.SlugField(help_text="The scheme's code.")
    kind = serializers.ChoiceField(choices=ParticipantIdentifier.Kind.choices)
    value = serializers.CharField(min_length=1, max_length=100)


class LotSerializer(serializers.ModelSerializer):
    offer = serializers.SlugRelatedField(slug_field="code", read_only=True)
    remaining_minor = serializers.IntegerField()

    class Meta:
        model = AwardLot
        fields = [
            "id",
            "offer",
            "amount_minor",
            "remaining_minor",
            "awarded_at",
            "available_from",
            "expires_at",
        ]


class WalletSerializer(serializers.Serializer):
    balance_minor = serializers.IntegerField()
    pending_minor = serializers.IntegerField()
    available_minor = serializers.IntegerField()
    lots = LotSerializer(many=True)


class TransactionSerializer(serializers.ModelSerializer):
    amount_minor = serializers.IntegerField(help_text="Net change of the wallet.")
    merchant = serializers.SlugRelatedField(slug_field="code", read_only=True)
    event = serializers.SerializerMethodField()

    class Meta:
        model = Journal
        fields = ["id", "kind", "posted_at", "amount_minor", "merchant", "event", "memo"]

    def get_event(self, journal: Journal) -> dict[str, str] | None:
        if journal.event is None:
            return None
        return {"source": journal.event.source, "external_id": journal.event.external_id}


class LineSerializer(serializers.Serializer):
    product = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
    amount_minor = serializers.IntegerField(min_value=0, max_value=MAX_MINOR)


class EventCreateSerializer(serializers.Serializer):
    """The event body's schema and its error messages. The view validates plainly valid
    bodies with rewards.api.fast_validation.event_body and runs this for the rest."""

    source = serializers.CharField(min_length=1, max_length=64)
    external_id = serializers.CharField(min_length=1, max_length=128)
    type = serializers.ChoiceField(choices=CustomerEvent.Type.choices)
    participant = serializers.IntegerField(max_value=MAX_MINOR)
    merchant = serializers.SlugField(
        required=False, help_text="Defaults to the API key's merchant; must be it if given."
    )
    occurred_at = serializers.DateTimeField()
    lines = LineSerializer(many=True, required=False, max_length=MAX_LINES)
    total_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_MINOR, required=False, default=0
    )
    payment_medium = serializers.CharField(
        required=False, allow_null=True, min_length=1, max_length=50
    )
    area = serializers.CharField(required=False, allow_null=True, min_length=1, max_length=100)
    achievement_code = serializers.CharField(
        required=False, allow_null=True, min_length=1, max_length=100
    )
    original_external_id = serializers.CharField(
        required=False, allow_null=True, min_length=1, max_length=128, help_text="For a refund."
    )
    process = serializers.ChoiceField(
        choices=list(EVENT_PROCESS_CHOICES),
        required=False,
        help_text="Default: the scheme's setting. A refund is always processed at once.",
    )


class AwardSerializer(serializers.Serializer):
    offer = serializers.IntegerField()
    offer_code = serializers.CharField()
    amount_minor = serializers.IntegerField()
    available_from = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    spend_method = serializers.CharField()


class AutomaticSpendSerializer(serializers.Serializer):
    journal = serializers.IntegerField()
    amount_minor = serializers.IntegerField()


class EventResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    awards = AwardSerializer(many=True)
    instant_discount_minor = serializers.IntegerField(required=False)
    automatic_spend = AutomaticSpendSerializer(
        required=False, help_text="What the purchase paid from the wallet, when allowed."
    )
    clawback_minor = serializers.IntegerField(required=False)
    clawback_demanded_minor = serializers.IntegerField(required=False)
    balance_minor = serializers.IntegerField(required=False, allow_null=True)


class SpendCreateSerializer(serializers.Serializer):
    """The spend body's schema and error messages (fast path: fast_validation.spend_body)."""

    participant = serializers.IntegerField(max_value=MAX_MINOR)
    amount_minor = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
    merchant = serializers.SlugField(
        required=False, help_text="Defaults to the API key's merchant; must be it if given."
    )
    idempotency_key = serializers.CharField(min_length=1, max_length=128)
    products = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=MAX_LINES
    )


class SpendResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    participant = serializers.IntegerField()
    amount_minor = serializers.IntegerField()
    balance_minor = serializers.IntegerField()


class OfferSerializer(serializers.ModelSerializer):
    scheme = serializers.SlugRelatedField(slug_field="code", read_only=True)
    offer_type = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    category = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "code",
            "name",
            "scheme",
            "classification",
            "offer_type",
            "category",
            "status",
            "rules",
            "latest_effective_at",
        ]
