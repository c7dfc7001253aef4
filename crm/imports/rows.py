"""Validating imported rows and matching them to existing customers.

A row is valid when every value reads (phone to E.164 with the import's default country,
email, language, yes/no consent), it has a phone or an email, and it names at most one
existing customer (by phone, email or member number) and no customer or key an earlier row
of the same file named. A valid row either creates a customer or completes the one it
matched (blank fields only; consent of an existing customer is never changed by a file).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.db.models.functions import Lower

from crm.imports.parsing import SourceRow
from crm.models import Customer
from crm.phones import PhoneFormatError, phone_normalise

_YES = {"1", "y", "yes", "true", "t", "x", "ja", "j"}
_NO = {"0", "n", "no", "false", "f", "nej", ""}
_LIMITS = {"first_name": 100, "last_name": 100, "member_number": 64, "email": 254}
# What may complete an existing customer's blank fields.
FILLABLE_FIELDS = ("first_name", "last_name", "phone", "email", "member_number")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    value: str
    message: str


@dataclass
class CleanRow:
    line: int
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    member_number: str = ""
    language: str = ""
    accepts_marketing_sms: bool | None = None
    accepts_marketing_email: bool | None = None
    match: Customer | None = None

    def match_keys(self) -> list[tuple[str, str]]:
        return [
            (name, value)
            for name, value in (
                ("phone", self.phone),
                ("email", self.email.lower()),
                ("member_number", self.member_number),
            )
            if value
        ]


def _language(text: str) -> str | None:
    wanted = text.strip().lower()
    for code, label in settings.LANGUAGES:
        if wanted in {code.lower(), str(label).lower()}:
            return code
    return None


def _consent(text: str) -> bool | None:
    wanted = text.strip().lower()
    if wanted in _YES:
        return True
    if wanted in _NO:
        return False
    raise ValueError


def row_clean(
    row: SourceRow, *, country_calling_code: str
) -> tuple[CleanRow | None, list[RowError]]:
    """The row's values read and checked on their own (no database)."""
    if row.problem:
        return None, [RowError(row.line, "", "", row.problem)]
    values = {name: (value or "").strip() for name, value in row.values.items()}
    clean = CleanRow(line=row.line)
    errors: list[RowError] = []

    def error(name: str, message: str) -> None:
        errors.append(RowError(row.line, name, values.get(name, "")[:255], message))

    for name, limit in _LIMITS.items():
        if len(values.get(name, "")) > limit:
            error(name, f"Longer than {limit} characters.")
    clean.first_name = values.get("first_name", "")[:100]
    clean.last_name = values.get("last_name", "")[:100]
    clean.member_number = values.get("member_number", "")[:64]
    if values.get("phone"):
        try:
            clean.phone = phone_normalise(
                values["phone"], country_calling_code=country_calling_code
            )
        except PhoneFormatError as problem:
            error("phone", str(problem))
    if values.get("email"):
        try:
            validate_email(values["email"])
        except ValidationError:
            error("email", "Not an email address.")
        else:
            clean.email = values["email"]
    if not values.get("phone") and not values.get("email"):
        error("phone", "A customer needs a phone number or an email address.")
    if values.get("language"):
        language = _language(values["language"])
        if language is None:
            codes = ", ".join(code for code, _label in settings.LANGUAGES)
            error("language", f"Unknown language; use one of {codes}.")
        else:
            clean.language = language
    for name in ("accepts_marketing_sms", "accepts_marketing_email"):
        if name in values:
            try:
                setattr(clean, name, _consent(values[name]) if values[name] else None)
            except ValueError:
                error(name, "Consent is yes or no (also 1/0, true/false, ja/nej).")
    return (None if errors else clean), errors


@dataclass
class Matcher:
    """Matches rows to existing customers, a chunk at a time, and remembers which keys and
    customers earlier rows of the file used."""

    seen_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    seen_customers: dict[int, int] = field(default_factory=dict)

    def match_chunk(self, rows: Iterable[CleanRow]) -> list[RowError]:
        rows = list(rows)
        phones = {row.phone for row in rows if row.phone}
        emails = {row.email.lower() for row in rows if row.email}
        numbers = {row.member_number for row in rows if row.member_number}
        found: dict[tuple[str, str], Customer] = {}
        if phones or emails or numbers:
            for customer in Customer.objects.annotate(email_lower=Lower("email")).filter(
                Q(phone__in=phones) | Q(email_lower__in=emails) | Q(member_number__in=numbers)
            ):
                for key in (
                    ("phone", customer.phone),
                    ("email", customer.email.lower()),
                    ("member_number", customer.member_number),
                ):
                    if key[1]:
                        found[key] = customer
        errors = []
        for row in rows:
            problem = self._match_row(row, found)
            if problem is not None:
                errors.append(problem)
        return errors

    def _match_row(self, row: CleanRow, found: dict[tuple[str, str], Customer]) -> RowError | None:
        for key in row.match_keys():
            earlier = self.seen_keys.get(key)
            if earlier is not None:
                name, value = key
                return RowError(
                    row.line, name, value, f"Same {name.replace('_', ' ')} as line {earlier}."
                )
        customers = {found[key].pk: found[key] for key in row.match_keys() if key in found}
        if len(customers) > 1:
            described = ", ".join(
                f"{name.replace('_', ' ')} is customer #{found[(name, value)].pk}"
                for name, value in row.match_keys()
                if (name, value) in found
            )
            return RowError(row.line, "", "", f"The row names two existing customers: {described}.")
        row.match = next(iter(customers.values()), None)
        if row.match is not None:
            earlier = self.seen_customers.get(row.match.pk)
            if earlier is not None:
                return RowError(
                    row.line,
                    "",
                    "",
                    f"Matches the same existing customer #{row.match.pk} as line {earlier}.",
                )
            self.seen_customers[row.match.pk] = row.line
        for key in row.match_keys():
            self.seen_keys[key] = row.line
        return None


def fill_blanks(customer: Customer, row: CleanRow) -> list[str]:
    """Sets the customer's blank fields from the row; returns the fields it set."""
    filled = []
    for name in FILLABLE_FIELDS:
        value = getattr(row, name)
        if value and not getattr(customer, name):
            setattr(customer, name, value)
            filled.append(name)
    return filled
