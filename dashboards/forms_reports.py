"""What a user may ask an export for, validated against their scope like the dashboards'
filters: a report the scope may not export, a scheme, campaign or channel partner outside it
is "not a valid choice", the same answer as an id that does not exist."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from claims.models import ClaimStatus
from dashboards.campaigns import campaign_partners
from dashboards.models import Export
from dashboards.reports import LOYALTY_REPORTS, ReportFilters, reports_for_scope
from dashboards.scoping import Scope
from rewards.models import Participant, Scheme


class DateInput(forms.DateInput):
    input_type = "date"


class ExportRequestForm(forms.Form):
    report = forms.ChoiceField(label=_("Report"), choices=())
    format = forms.ChoiceField(
        label=_("Format"), choices=Export.Format.choices, initial=Export.Format.CSV
    )
    scheme: "forms.ModelChoiceField[Scheme]" = forms.ModelChoiceField(
        label=_("Scheme or campaign"),
        queryset=Scheme.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    date_from = forms.DateField(
        label=_("From"),
        required=False,
        widget=DateInput,
        help_text=_("Sign-up day, submission day or the period's first day."),
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput)
    status = forms.ChoiceField(label=_("Status"), choices=(), required=False)
    channel_partner = forms.ModelChoiceField(
        label=_("Channel partner"),
        queryset=Scheme.objects.none(),
        required=False,
        empty_label=_("All channel partners"),
        help_text=_("Claims report only."),
    )

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        allowed = reports_for_scope(scope)
        fields = self.fields
        assert isinstance(fields["report"], forms.ChoiceField)  # noqa: S101 - declared above
        assert isinstance(fields["status"], forms.ChoiceField)  # noqa: S101
        assert isinstance(fields["scheme"], forms.ModelChoiceField)  # noqa: S101
        assert isinstance(fields["channel_partner"], forms.ModelChoiceField)  # noqa: S101
        fields["report"].choices = [
            (value, label) for value, label in Export.Report.choices if value in allowed
        ]
        # The other fields' choices depend on the report asked for; a report outside the
        # scope leaves them empty (and the report field says why).
        report = self.data.get(self.add_prefix("report")) if self.is_bound else None
        status_choices: list[tuple[str, Any]] = [("", _("Any status"))]
        if report in allowed and report in LOYALTY_REPORTS:
            fields["scheme"].queryset = scope.loyalty_schemes().order_by("name", "pk")
            if report != Export.Report.SETTLEMENT:
                status_choices += list(Participant.Status.choices)
        elif report in allowed:
            fields["scheme"].queryset = scope.campaigns().order_by("name", "pk")
            fields["channel_partner"].queryset = campaign_partners(scope).order_by("name", "pk")
            status_choices += [
                choice for choice in ClaimStatus.choices if choice[0] != ClaimStatus.DRAFT
            ]
        elif not self.is_bound:
            fields["scheme"].queryset = (scope.loyalty_schemes() | scope.campaigns()).order_by(
                "name", "pk"
            )
            fields["channel_partner"].queryset = campaign_partners(scope).order_by("name", "pk")
            status_choices += list(Participant.Status.choices) + [
                choice for choice in ClaimStatus.choices if choice[0] != ClaimStatus.DRAFT
            ]
        fields["status"].choices = status_choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(_("The first day comes after the last."), code="order")
        return cleaned

    def report_filters(self) -> ReportFilters:
        """The validated filters; call after is_valid()."""
        data = self.cleaned_data
        scheme, partner = data.get("scheme"), data.get("channel_partner")
        return ReportFilters(
            scheme_id=scheme.pk if scheme is not None else None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            status=data.get("status") or "",
            channel_partner_id=partner.pk if partner is not None else None,
        )


def form_data_of(export: Export) -> dict[str, Any]:
    """An export's report, format and stored filters as the form's data, to validate them
    again against a scope (when the task runs, and when the file is downloaded)."""
    return {"report": export.report, "format": export.format, **export.filters}
