"""The claims API's request and response shapes. Requests are only shaped here: the rules
(what a contact, a six-digit code or a claim form must be) are the portal's own forms and
services, so both surfaces accept exactly the same input."""

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims.forms import CodeForm, parse_contact
from claims.models import Claim, ClaimDocument, ClaimStatus, Region, requirements_for_scheme
from claims.selectors import (
    TimelineStep,
    claim_current_documents,
    claim_customer_timeline,
)
from claims.services import (
    claim_document_kinds_open,
    claim_documents_still_requested,
    claim_missing_items,
)
from claims.templatetags.claims_portal import customer_status
from crm.models import Customer
from rewards.models import DrawResult


class ClaimsErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. wrong_code, too_large.")
    message = serializers.CharField(help_text="For the customer, in the request's language.")
    # Shadows Serializer.errors; this serializer only describes responses in the schema.
    errors = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Per field, for code=invalid: field -> list of messages."
    )
    tries_left = serializers.IntegerField(
        required=False, help_text="For code=wrong_code: wrong tries left before the code dies."
    )


_STATUSES = ", ".join(ClaimStatus.values)
_KINDS = ", ".join(ClaimDocument.Kind.values)


@extend_schema_field({"type": "string", "description": f"One of: {_KINDS}."})
class DocumentKindField(serializers.ChoiceField):
    """A document kind. A plain string in the schema: an enum of these kinds is named by
    other apps' components too, and would collide."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=ClaimDocument.Kind.choices, **kwargs)


def _status_field() -> serializers.CharField:
    # A plain string in the schema: an enum named "status" would collide with rewards'.
    return serializers.CharField(read_only=True, help_text=f"One of: {_STATUSES}.")


# -- sign-in ----------------------------------------------------------------------------------


class SignInRequestSerializer(serializers.Serializer):
    contact = serializers.CharField(
        max_length=254,
        help_text="A mobile number (070 123 45 67, +46 70 123 45 67) or an email address.",
    )

    def validate_contact(self, value: str) -> tuple[str, str]:
        return parse_contact(value)


class SignInStartedSerializer(serializers.Serializer):
    sign_in_token = serializers.CharField(
        help_text="Send it back with the code to POST sign-in/verify/. Valid as long as the code."
    )
    channel = serializers.ChoiceField(choices=["sms", "email"])
    destination = serializers.CharField(help_text="Where the code went, partly hidden.")
    expires_in = serializers.IntegerField(help_text="Seconds the code is valid for.")


class SignInVerifySerializer(serializers.Serializer):
    sign_in_token = serializers.CharField(max_length=500)
    code = serializers.CharField(max_length=12, help_text="The six-digit code.")

    def validate_code(self, value: str) -> str:
        form = CodeForm({"code": value})
        if not form.is_valid():
            raise serializers.ValidationError([str(message) for message in form.errors["code"]])
        return str(form.cleaned_data["code"])


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["phone", "email", "first_name", "last_name", "preferred_language"]
        read_only_fields = ["phone", "email", "first_name", "last_name"]


class CustomerUpdateSerializer(serializers.Serializer):
    preferred_language = serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        help_text="The language of the customer's messages and of the portal after sign-in.",
    )


class AccessTokenSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text='Send as "Authorization: Bearer <token>".')
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds the token is valid for.")
    customer = CustomerSerializer()


# -- codes and draw wins -------------------------------------------------------------------


class CodeEntrySerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=40, help_text="The code as printed; spaces, dashes and case do not matter."
    )


class ClaimSummarySerializer(serializers.ModelSerializer):
    prize_name = serializers.CharField(source="prize.name", read_only=True)
    campaign_name = serializers.CharField(source="scheme.name", read_only=True)
    status = _status_field()
    status_text = serializers.SerializerMethodField(help_text="The status in plain words.")
    url = serializers.SerializerMethodField(help_text="This claim in the API.")

    class Meta:
        model = Claim
        fields = [
            "number",
            "status",
            "status_text",
            "prize_name",
            "campaign_name",
            "created_at",
            "submitted_at",
            "deadline_at",
            "url",
        ]

    def get_status_text(self, claim: Claim) -> str:
        return customer_status(claim.status)

    def get_url(self, claim: Claim) -> str:
        return reverse("claims-api:claim", kwargs={"number": claim.number})


class CodeEntryResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["claim_started", "claim_resumed", "draw_entered", "already_in_draw"]
    )
    message = serializers.CharField()
    claim = ClaimSummarySerializer(allow_null=True)


class DrawWinSerializer(serializers.ModelSerializer):
    prize_name = serializers.CharField(source="draw.prize.name", read_only=True)
    campaign_name = serializers.CharField(source="draw.scheme.name", read_only=True)

    class Meta:
        model = DrawResult
        fields = ["id", "prize_name", "campaign_name", "claim_deadline_at"]


# -- a claim --------------------------------------------------------------------------------


class ClaimDetailsSerializer(serializers.Serializer):
    """The claim form. Send only what changes; the campaign's rules (required fields, postal
    code and national ID shapes) are checked on the whole form after the change."""

    full_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    address_line1 = serializers.CharField(required=False, allow_blank=True, max_length=200)
    address_line2 = serializers.CharField(required=False, allow_blank=True, max_length=200)
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=20)
    city = serializers.CharField(required=False, allow_blank=True, max_length=100)
    region = serializers.ChoiceField(
        choices=Region.choices,
        required=False,
        allow_blank=True,
        help_text="The county (ISO 3166-2:SE code, e.g. SE-AB); asked with the address.",
    )
    national_id = serializers.CharField(required=False, allow_blank=True, max_length=32)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100)


FORM_FIELDS = tuple(ClaimDetailsSerializer._declared_fields)


class ShipmentSerializer(serializers.Serializer):
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField(help_text="The carrier's page; empty if none.")
    dispatched_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    returned_at = serializers.DateTimeField(allow_null=True)


class TimelineStepSerializer(serializers.Serializer):
    status = _status_field()
    status_text = serializers.SerializerMethodField()
    occurred_at = serializers.DateTimeField()
    reason = serializers.CharField(help_text="Why, in plain words (a rejection, a request).")
    requested_documents = serializers.ListField(
        child=serializers.CharField(), source="requested_kinds"
    )
    is_resubmission = serializers.BooleanField()
    shipment = ShipmentSerializer(allow_null=True)

    def get_status_text(self, step: TimelineStep) -> str:
        return customer_status(step.status)


class DocumentSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text=f"One of: {_KINDS}.")
    kind_text = serializers.CharField(source="get_kind_display", read_only=True)
    url = serializers.SerializerMethodField(help_text="Download (attachment).")

    class Meta:
        model = ClaimDocument
        fields = [
            "id",
            "kind",
            "kind_text",
            "download_name",
            "content_type",
            "size_bytes",
            "uploaded_at",
            "url",
        ]

    def get_url(self, document: ClaimDocument) -> str:
        return reverse(
            "claims-api:claim-document",
            kwargs={"number": document.claim.number, "document_id": document.pk},
        )


class DocumentUploadSerializer(serializers.Serializer):
    kind = DocumentKindField()
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="JPEG, PNG, HEIC or PDF, checked like the portal's uploads.",
    )


class RequirementsSerializer(serializers.Serializer):
    delivery_address_required = serializers.BooleanField()
    national_id_required = serializers.BooleanField()
    reference_required = serializers.BooleanField()
    reference_label = serializers.CharField()
    required_documents = serializers.ListField(
        child=serializers.CharField(), source="required_document_kinds"
    )
    max_upload_bytes = serializers.SerializerMethodField()

    def get_max_upload_bytes(self, requirements: Any) -> int:
        return int(requirements.max_upload_bytes or settings.CLAIM_UPLOAD_MAX_BYTES)


class ClaimDetailSerializer(ClaimSummarySerializer):
    code = serializers.CharField(source="code.value", allow_null=True, read_only=True)
    details = serializers.SerializerMethodField()
    requirements = serializers.SerializerMethodField()
    missing = serializers.SerializerMethodField(
        help_text="What a draft still lacks before it can be submitted, in plain words."
    )
    documents_open = serializers.SerializerMethodField(
        help_text="The document kinds that can be uploaded now."
    )
    documents_requested = serializers.SerializerMethodField(
        help_text="While documents are asked for again: the kinds not yet uploaded again."
    )
    documents = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField(help_text="Oldest first.")

    class Meta(ClaimSummarySerializer.Meta):
        fields = [
            *ClaimSummarySerializer.Meta.fields,
            "code",
            "details",
            "requirements",
            "missing",
            "documents_open",
            "documents_requested",
            "documents",
            "timeline",
        ]

    @extend_schema_field(ClaimDetailsSerializer)
    def get_details(self, claim: Claim) -> dict[str, str]:
        return {name: getattr(claim, name) for name in FORM_FIELDS}

    @extend_schema_field(RequirementsSerializer)
    def get_requirements(self, claim: Claim) -> dict[str, Any]:
        return dict(RequirementsSerializer(requirements_for_scheme(claim.scheme_id)).data)

    def get_missing(self, claim: Claim) -> list[str]:
        return claim_missing_items(claim) if claim.status == ClaimStatus.DRAFT else []

    def get_documents_open(self, claim: Claim) -> list[str]:
        return claim_document_kinds_open(claim)

    def get_documents_requested(self, claim: Claim) -> list[str]:
        return claim_documents_still_requested(claim)

    @extend_schema_field(DocumentSerializer(many=True))
    def get_documents(self, claim: Claim) -> list[Any]:
        documents = claim_current_documents(claim).values()
        return list(DocumentSerializer(documents, many=True).data)

    @extend_schema_field(TimelineStepSerializer(many=True))
    def get_timeline(self, claim: Claim) -> list[Any]:
        return list(TimelineStepSerializer(claim_customer_timeline(claim), many=True).data)
