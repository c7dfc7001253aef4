from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from claims.models import ClaimDocument, ClaimStatus, ProposedOutcome
from crm.models import ChannelPartner
from rewards.models import Prize, Scheme
from verification.models import CheckerDecision, ChecklistItem, RejectionReason
from verification.selectors import AGE_BUCKETS, QueueFilters
from verification.services.review import QUEUE_STATUSES


class QueueFilterForm(forms.Form):
    campaign = forms.ModelChoiceField(
        label=_("Campaign"), queryset=Scheme.objects.order_by("name"), required=False
    )
    channel_partner = forms.ModelChoiceField(
        label=_("Channel partner"),
        queryset=ChannelPartner.objects.order_by("name"),
        required=False,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any"))] + [(status.value, status.label) for status in QUEUE_STATUSES],
    )
    prize = forms.ModelChoiceField(
        label=_("Prize"),
        queryset=Prize.objects.select_related("scheme").order_by("scheme__name", "name"),
        required=False,
    )
    age = forms.ChoiceField(
        label=_("Waiting"),
        required=False,
        choices=[("", _("Any time")), ("over_sla", _("past the SLA"))]
        + [(code, label) for code, label, _low, _high in AGE_BUCKETS],
    )

    def filters(self) -> QueueFilters:
        data = self.cleaned_data
        return QueueFilters(
            scheme_id=data["campaign"].pk if data.get("campaign") else None,
            channel_partner_id=data["channel_partner"].pk if data.get("channel_partner") else None,
            status=data.get("status") or "",
            prize_id=data["prize"].pk if data.get("prize") else None,
            age=data.get("age") or "",
        )


class InvoiceDetailsForm(forms.Form):
    invoice_number = forms.CharField(label=_("Invoice number"), max_length=100)
    merchant_name = forms.CharField(label=_("Merchant"), max_length=200)


class ProposalForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Proposal"), choices=ProposedOutcome.choices, widget=forms.RadioSelect
    )
    rejection_reason = forms.ModelChoiceField(
        label=_("Reason for a rejection"),
        queryset=RejectionReason.objects.filter(is_active=True),
        required=False,
    )
    reason = forms.CharField(
        label=_("Words for the customer (optional for a rejection: replaces the reason's text)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    requested_document_kinds = forms.MultipleChoiceField(
        label=_("Documents to upload again"),
        choices=ClaimDocument.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(
        label=_("Note for the checker"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, checklist: list[tuple[ChecklistItem, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.checklist_fields = []
        for item, document in checklist:
            name = f"check_{item.pk}"
            self.fields[name] = forms.BooleanField(
                label=f"{ClaimDocument.Kind(item.document_kind).label}: {item.text}",
                required=False,
            )
            self.checklist_fields.append((name, item, document))

    def checklist_answers(self) -> dict[int, bool]:
        return {
            item.pk: bool(self.cleaned_data.get(name)) for name, item, _doc in self.checklist_fields
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=CheckerDecision.Decision.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=_("Note (required to send back)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    acknowledge_signals = forms.BooleanField(
        label=_("I have looked at the fraud signals above"), required=False
    )


class BulkDecisionForm(forms.Form):
    claims = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)
    acknowledge_signals = forms.BooleanField(required=False)

    def __init__(self, *args: Any, claim_ids: list[int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["claims"].choices = [(pk, pk) for pk in claim_ids]


class ReleaseForm(forms.Form):
    claims = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)

    def __init__(self, *args: Any, claim_ids: list[int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["claims"].choices = [(pk, pk) for pk in claim_ids]


class DispatchForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=100)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100)
    tracking_url = forms.URLField(label=_("Tracking page"), required=False)


class TrackingImportForm(forms.Form):
    file = forms.FileField(
        label=_("Courier's tracking file (CSV: reference, carrier, tracking_number, tracking_url)")
    )


class AuditSearchForm(forms.Form):
    text = forms.CharField(label=_("Search"), required=False)
    action = forms.CharField(label=_("Action starts with"), required=False)
    actor = forms.CharField(label=_("By (user name)"), required=False)
    object_type = forms.CharField(label=_("Object type"), required=False)
    object_id = forms.CharField(label=_("Object id"), required=False)
    since = forms.DateTimeField(label=_("From"), required=False)
    until = forms.DateTimeField(label=_("Until"), required=False)


STATUS_LABELS = dict(ClaimStatus.choices)
