"""Phone numbers as people type them, read as E.164 (what Customer.phone stores).

"070-123 45 67" with default country 46 is +46701234567; "0046 70 123 45 67" and
"+46 (0)70 123 45 67" are too. No library guesses national formats for us: a leading "0"
means the default country, "00" or "+" an international number.
"""

import re

from django.conf import settings

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PUNCTUATION = re.compile(r"[\s\-().\/]")


class PhoneFormatError(ValueError):
    """The text cannot be read as a phone number; the message says why, for a person."""


def default_country_calling_code() -> str:
    return str(settings.CRM_DEFAULT_COUNTRY_CALLING_CODE)


def phone_normalise(text: str, *, country_calling_code: str | None = None) -> str:
    """The E.164 form of ``text``, or PhoneFormatError."""
    country = country_calling_code or default_country_calling_code()
    number = _PUNCTUATION.sub("", text.replace("(0)", ""))
    if not number:
        raise PhoneFormatError("The phone number is empty.")
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = f"+{country}{number[1:]}"
    elif number.isdigit() and number.startswith(country) and len(number) >= 10:
        # Written internationally without the "+" (common in exported registers).
        number = "+" + number
    if not _E164.match(number):
        raise PhoneFormatError(
            "Not a phone number: write it with a leading 0 (national) or + and the country "
            "code, e.g. 070 123 45 67 or +46 70 123 45 67."
        )
    return number


def phone_search_candidates(text: str) -> tuple[str | None, str]:
    """For a search box: the E.164 number ``text`` may be (or None) and its bare digits.

    The digits (without a national leading 0) let a partial number match as a substring.
    """
    try:
        exact: str | None = phone_normalise(text)
    except PhoneFormatError:
        exact = None
    digits = re.sub(r"\D", "", text.replace("(0)", ""))
    return exact, digits.lstrip("0")
