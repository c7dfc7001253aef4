import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from claims.models import CustomerOTPDevice

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


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
    number = _PHONE_PUNCTUATION.sub("", text)
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = f"+{settings.CLAIM_DEFAULT_COUNTRY_CALLING_CODE}{number[1:]}"
    if not _E164.match(number):
        raise ValidationError(
            _(
                "Enter a mobile number such as 070 123 45 67 or +46 70 123 45 67, "
                "or an email address."
            ),
            code="phone",
        )
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
