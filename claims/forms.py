import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from claims.models import CustomerOTPDevice, Region
from crm.phones import PhoneFormatError, phone_normalise


def parse_contact(text: str) -> tuple[str, str]:
    """Reads a phone number or an email address as (channel, destination).

    Email addresses are lower-cased (crm treats them case-insensitively). Phone numbers
    become E.164: "00" stands for "+", and a leading "0" for the default country.
    """
    text = text.strip()
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise ValidationError(
                _("That email address does not look right. Check it and try again."),
                code="email",
            ) from None
        return CustomerOTPDevice.Channel.EMAIL, text.lower()
    try:
        number = phone_normalise(text)
    except PhoneFormatError:
        raise ValidationError(
            _(
                "Enter a mobile number such as 070 123 45 67 or +46 70 123 45 67, "
                "or an email address."
            ),
            code="phone",
        ) from None
    return CustomerOTPDevice.Channel.SMS, number


class SignInForm(forms.Form):
    contact = forms.CharField(
        label=_("Mobile number or email address"),
        max_length=254,
        error_messages={"required": _("Enter your mobile number or email address.")},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )

    def clean_contact(self) -> tuple[str, str]:
        return parse_contact(self.cleaned_data["contact"])


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code"),
        max_length=12,
        error_messages={"required": _("Enter the six-digit code we sent you.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        code = re.sub(r"\s", "", self.cleaned_data["code"])
        if not re.fullmatch(r"\d{6}", code):
            raise ValidationError(_("The code is six digits, for example 123456."), code="format")
        return code


class EnterCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Your code"),
        max_length=40,
        error_messages={"required": _("Enter the code from your card or pack.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


_POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{1,9}$")
_NATIONAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 +\-]{4,30}$")


def _plain(text: str) -> str:
    """One line of text as a person meant it: trimmed, inner runs of spaces made single."""
    return " ".join(text.split())


class ClaimDetailsForm(forms.Form):
    """The claim form; which fields it has depends on the campaign's ClaimRequirements."""

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        error_messages={"required": _("Enter your full name.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    address_line1 = forms.CharField(
        label=_("Street address"),
        max_length=200,
        error_messages={"required": _("Enter the street address we should send the prize to.")},
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    address_line2 = forms.CharField(
        label=_("Flat, c/o or other (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=20,
        error_messages={"required": _("Enter your postal code.")},
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    city = forms.CharField(
        label=_("City"),
        max_length=100,
        error_messages={"required": _("Enter your city or town.")},
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    region = forms.ChoiceField(
        label=_("County (län)"),
        choices=(),  # set per form: the counties sorted by their name in this language
        error_messages={
            "required": _("Choose the county you live in."),
            "invalid_choice": _("Choose a county from the list."),
        },
        widget=forms.Select(attrs={"autocomplete": "address-level1"}),
    )
    national_id = forms.CharField(
        label=_("National ID number"),
        max_length=32,
        help_text=_("For example 19900101-1234. We need it to check that the prize is yours."),
        error_messages={"required": _("Enter your national ID number.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    reference = forms.CharField(
        label=_("Reference"),
        max_length=100,
        error_messages={"required": _("Enter the reference.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    ADDRESS_FIELDS = ("address_line1", "address_line2", "postal_code", "city", "region")

    def __init__(self, *args: Any, requirements: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not requirements.delivery_address_required:
            for name in self.ADDRESS_FIELDS:
                del self.fields[name]
        else:
            region = self.fields["region"]
            assert isinstance(region, forms.ChoiceField)  # noqa: S101 - declared above
            region.choices = [
                ("", _("Choose your county")),
                *sorted(Region.choices, key=lambda choice: str(choice[1])),
            ]
        if not requirements.national_id_required:
            del self.fields["national_id"]
        if not requirements.reference_required:
            del self.fields["reference"]
        elif requirements.reference_label:
            self.fields["reference"].label = requirements.reference_label
            self.fields["reference"].error_messages["required"] = _("Enter the %(label)s.") % {
                "label": requirements.reference_label.lower()
            }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, value in list(cleaned.items()):
            if isinstance(value, str):
                cleaned[name] = _plain(value)
        postal_code = cleaned.get("postal_code")
        if postal_code and not _POSTAL_CODE.match(postal_code):
            self.add_error(
                "postal_code", _("That postal code does not look right. For example: 123 45.")
            )
        national_id = cleaned.get("national_id")
        if national_id and not _NATIONAL_ID.match(national_id):
            self.add_error(
                "national_id",
                _("That number does not look right. Use digits, for example 19900101-1234."),
            )
        return cleaned


class DocumentUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Choose a file"),
        allow_empty_file=True,  # claims.documents explains an empty file better
        error_messages={"required": _("Choose a photo or a scan to upload.")},
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/jpeg,image/png,image/heic,image/heif,application/pdf"}
        ),
    )
