"""The board's filters, validated against the user's scope: a scheme outside it is not a
valid choice, whatever id is typed into the address."""

import re
from datetime import date
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from claims.models import Region
from dashboards.campaigns import (
    MAX_DAYS,
    CampaignFilters,
    campaign_partners,
    campaign_prizes,
    default_range,
)
from dashboards.scoping import Scope
from dashboards.selectors import MAX_MONTHS, BoardFilters, months_between
from rewards.models import Scheme

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class MonthField(forms.CharField):
    """A month as YYYY-MM (what <input type="month"> sends), cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "pattern": r"\d{4}-\d{2}"})
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM.")}

    def to_python(self, value: Any) -> date | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        match = _MONTH.match(text)
        if match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return date(int(match[1]), int(match[2]), 1)


def with_default_months(query: QueryDict) -> QueryDict:
    """A copy of the query with the default months filled in where none is given, so the
    form shows (and the poll repeats) the months actually displayed."""
    data = query.copy()
    default = BoardFilters.default()
    for name, month in (("month_from", default.month_from), ("month_to", default.month_to)):
        if not data.get(name):
            data[name] = f"{month:%Y-%m}"
    return data


class BoardFilterForm(forms.Form):
    scheme: "forms.ModelChoiceField[Scheme]" = forms.ModelChoiceField(
        label=_("Scheme"),
        queryset=Scheme.objects.none(),
        required=False,
        empty_label=_("All schemes"),
    )
    month_from = MonthField(label=_("From month"), required=False)
    month_to = MonthField(label=_("To month"), required=False)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scheme_field = self.fields["scheme"]
        assert isinstance(scheme_field, forms.ModelChoiceField)  # noqa: S101 - declared above
        scheme_field.queryset = scope.loyalty_schemes().order_by("name", "pk")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        default = BoardFilters.default()
        month_from = cleaned.get("month_from") or default.month_from
        month_to = cleaned.get("month_to") or default.month_to
        if "month_from" in self.errors or "month_to" in self.errors:
            return cleaned
        if month_from > month_to:
            raise forms.ValidationError(_("The first month comes after the last."), code="order")
        if len(months_between(month_from, month_to)) > MAX_MONTHS:
            raise forms.ValidationError(
                _("Choose at most %(months)d months."),
                code="too_long",
                params={"months": MAX_MONTHS},
            )
        cleaned["month_from"], cleaned["month_to"] = month_from, month_to
        return cleaned

    def filters(self) -> BoardFilters:
        """The validated filters; call after is_valid()."""
        return BoardFilters(
            scheme=self.cleaned_data.get("scheme"),
            month_from=self.cleaned_data["month_from"],
            month_to=self.cleaned_data["month_to"],
        )


# -- the client campaign dashboard ----------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"


def with_default_dates(query: QueryDict) -> QueryDict:
    """A copy of the query with the default date range (the last 30 days) filled in where
    none is given, so the form shows (and the poll repeats) the days displayed."""
    data = query.copy()
    first, last = default_range()
    for name, day in (("date_from", first), ("date_to", last)):
        if not data.get(name):
            data[name] = day.isoformat()
    return data


class CampaignFilterForm(forms.Form):
    """The campaign dashboard's filters, validated against the scope: the campaign, a prize
    of it and a channel partner must all be in the user's scope, or they are "not a valid
    choice". A channel partner user's partner filter is locked to their own partner."""

    campaign: "forms.ModelChoiceField[Scheme]" = forms.ModelChoiceField(
        label=_("Campaign"), queryset=Scheme.objects.none(), required=False, empty_label=None
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput)
    prize = forms.ModelChoiceField(
        label=_("Prize"),
        queryset=Scheme.objects.none(),
        required=False,
        empty_label=_("All prizes"),
    )
    channel_partner = forms.ModelChoiceField(
        label=_("Channel partner"),
        queryset=Scheme.objects.none(),
        required=False,
        empty_label=_("All channel partners"),
    )
    region = forms.ChoiceField(
        label=_("County"),
        choices=(),  # set per form: the counties sorted by name in the reader's language
        required=False,
    )

    def __init__(
        self, *args: Any, scope: Scope, campaign: Scheme | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        fields = self.fields
        assert isinstance(fields["campaign"], forms.ModelChoiceField)  # noqa: S101
        assert isinstance(fields["prize"], forms.ModelChoiceField)  # noqa: S101
        assert isinstance(fields["channel_partner"], forms.ModelChoiceField)  # noqa: S101
        fields["campaign"].queryset = scope.campaigns().order_by("name", "pk")
        region = fields["region"]
        assert isinstance(region, forms.ChoiceField)  # noqa: S101
        region.choices = [
            ("", _("All counties")),
            *sorted(Region.choices, key=lambda choice: str(choice[1])),
        ]
        fields["campaign"].initial = campaign.pk if campaign is not None else None
        if campaign is not None:
            fields["prize"].queryset = campaign_prizes(scope, campaign).order_by("name", "pk")
        else:
            fields["prize"].queryset = Scheme.objects.none()
        partner_field = fields["channel_partner"]
        partner_field.queryset = campaign_partners(scope).order_by("name", "pk")
        if scope.is_partner_limited:
            # Locked: their own partner is the only choice (and the default); any other id
            # is "not a valid choice" (400), like one that does not exist.
            partner_field.empty_label = None
            partner_field.initial = scope.channel_partner_id

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "date_from" in self.errors or "date_to" in self.errors:
            return cleaned
        first, last = default_range()
        date_from = cleaned.get("date_from") or first
        date_to = cleaned.get("date_to") or last
        if date_from > date_to:
            raise forms.ValidationError(_("The first day comes after the last."), code="order")
        if (date_to - date_from).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("Choose at most %(days)d days."), code="too_long", params={"days": MAX_DAYS}
            )
        cleaned["date_from"], cleaned["date_to"] = date_from, date_to
        if self.scope.is_partner_limited and not cleaned.get("channel_partner"):
            cleaned["channel_partner"] = campaign_partners(self.scope).get()
        return cleaned

    def campaign_filters(self) -> CampaignFilters:
        """The validated CampaignFilters; call after is_valid()."""
        return CampaignFilters(
            date_from=self.cleaned_data["date_from"],
            date_to=self.cleaned_data["date_to"],
            prize=self.cleaned_data.get("prize"),
            channel_partner=self.cleaned_data.get("channel_partner"),
            region=self.cleaned_data.get("region") or "",
        )
