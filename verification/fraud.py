"""Fraud signals: facts about a claim that a checker must look at before confirming.

A signal never decides anything; it names the other claims that match, so the verifier can
open them. Each is one or two indexed queries:

- ``duplicate_document``: a current document's content (SHA-256) is in another claim;
- ``duplicate_invoice``: the invoice number and merchant read off the invoice are on another
  claim;
- ``shared_national_id``: another customer's claim has the same national ID (letters and
  digits only);
- ``shared_phone``: another winner's phone has the same last nine digits;
- ``shared_email``: another winner's email is the same without case and +tag;
- ``shared_address``: another customer's claim is for the same street and postal code;
- ``ip_velocity`` / ``device_velocity``: the campaign's threshold of claims came from one IP
  or one browser fingerprint inside its window.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import CharField, F, Func, QuerySet, Value
from django.db.models.functions import Concat, Lower, Right, Upper
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimDocument
from crm.models import Customer
from verification.models import InvoiceDetails, SubmissionOrigin, review_settings_for


@dataclass(frozen=True)
class Signal:
    kind: str
    title: str
    detail: str
    claims: list[tuple[int, str]] = field(default_factory=list)  # (id, number)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "claims": [number for _id, number in self.claims],
        }


def _regexp_replace(expression: Any, pattern: str) -> Func:
    return Func(
        expression,
        Value(pattern),
        Value(""),
        Value("g"),
        function="regexp_replace",
        output_field=CharField(),
    )


def national_id_key(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def phone_key(value: str) -> str:
    digits = re.sub(r"[^0-9]", "", value)
    return digits[-9:] if len(digits) >= 7 else ""


def email_key(value: str) -> str:
    local, _at, domain = value.strip().lower().partition("@")
    if not domain:
        return ""
    return f"{local.split('+', 1)[0]}@{domain}"


def address_key(line: str, postal_code: str) -> str:
    street = re.sub(r"[^0-9a-z]", "", line.lower())
    postal = re.sub(r"[^0-9A-Za-z]", "", postal_code).upper()
    return f"{street}|{postal}" if street and postal else ""


def invoice_number_key(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def merchant_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def _claims(rows: QuerySet[Claim]) -> list[tuple[int, str]]:
    return list(rows.order_by("pk").values_list("pk", "number").distinct()[:50])


def claim_signals(claim: Claim) -> list[Signal]:
    """Every signal the claim raises now, in a stable order."""
    signals: list[Signal] = []
    others = Claim.objects.exclude(pk=claim.pk)
    other_winners = others.exclude(customer_id=claim.customer_id)

    # The same file in another claim (any claim, the same customer's included: one receipt
    # wins once).
    current = dict(
        ClaimDocument.objects.filter(claim=claim, superseded_at__isnull=True).values_list(
            "sha256", "kind"
        )
    )
    if current:
        by_hash: dict[str, set[tuple[int, str]]] = {}
        for sha256, claim_id, number in (
            ClaimDocument.objects.filter(sha256__in=list(current))
            .exclude(claim_id=claim.pk)
            .values_list("sha256", "claim_id", "claim__number")
        ):
            by_hash.setdefault(sha256, set()).add((claim_id, number))
        for sha256, found in sorted(by_hash.items(), key=lambda item: current[item[0]]):
            label = str(ClaimDocument.Kind(current[sha256]).label).lower()
            signals.append(
                Signal(
                    "duplicate_document",
                    _("Same document in another claim"),
                    _("The %(document)s is the very same file as in another claim.")
                    % {"document": label},
                    sorted(found),
                )
            )

    invoice = InvoiceDetails.objects.filter(claim=claim).first()
    if invoice is not None and invoice.invoice_number_key:
        matches = _claims(
            others.filter(
                invoice_details__invoice_number_key=invoice.invoice_number_key,
                invoice_details__merchant_key=invoice.merchant_key,
            )
        )
        if matches:
            signals.append(
                Signal(
                    "duplicate_invoice",
                    _("Same invoice in another claim"),
                    _("Invoice %(number)s from %(merchant)s is recorded on another claim.")
                    % {"number": invoice.invoice_number, "merchant": invoice.merchant_name},
                    matches,
                )
            )

    key = national_id_key(claim.national_id)
    if key:
        matches = _claims(
            other_winners.annotate(
                national_id_key=Upper(_regexp_replace(F("national_id"), "[^0-9A-Za-z]"))
            ).filter(national_id_key=key)
        )
        if matches:
            signals.append(
                Signal(
                    "shared_national_id",
                    _("Same ID number, another winner"),
                    _("Another customer claimed with the same national ID number."),
                    matches,
                )
            )

    customer = Customer.objects.only("phone", "email").get(pk=claim.customer_id)
    key = phone_key(customer.phone)
    if key:
        customers = Customer.objects.exclude(pk=claim.customer_id).annotate(
            phone_key=Right(_regexp_replace(F("phone"), "[^0-9]"), 9)
        )
        matches = _claims(others.filter(customer__in=customers.filter(phone_key=key).values("pk")))
        if matches:
            signals.append(
                Signal(
                    "shared_phone",
                    _("Same phone, another winner"),
                    _("Another winner's phone number ends in the same nine digits."),
                    matches,
                )
            )

    key = email_key(customer.email)
    if key:
        _local, _at, domain = key.partition("@")
        customers = (
            Customer.objects.exclude(pk=claim.customer_id)
            .filter(email__iendswith=f"@{domain}")
            .annotate(
                email_key=Concat(
                    _regexp_replace(
                        Lower(
                            Func(
                                F("email"),
                                Value("@"),
                                Value(1),
                                function="split_part",
                                output_field=CharField(),
                            )
                        ),
                        r"\+.*$",
                    ),
                    Value("@"),
                    Value(domain),
                )
            )
            .filter(email_key=key)
        )
        matches = _claims(others.filter(customer__in=customers.values("pk")))
        if matches:
            signals.append(
                Signal(
                    "shared_email",
                    _("Same email, another winner"),
                    _("Another winner uses the same email address (ignoring case and +tags)."),
                    matches,
                )
            )

    key = address_key(claim.address_line1, claim.postal_code)
    if key:
        street, postal = key.split("|")
        matches = _claims(
            other_winners.annotate(
                street_key=_regexp_replace(Lower(F("address_line1")), "[^0-9a-z]"),
                postal_key=Upper(_regexp_replace(F("postal_code"), "[^0-9A-Za-z]")),
            ).filter(street_key=street, postal_key=postal, country=claim.country)
        )
        if matches:
            signals.append(
                Signal(
                    "shared_address",
                    _("Same delivery address, another winner"),
                    _("Another customer's prize goes to the same address."),
                    matches,
                )
            )

    signals.extend(_velocity_signals(claim))
    return signals


def _velocity_signals(claim: Claim) -> list[Signal]:
    origin = SubmissionOrigin.objects.filter(claim=claim).order_by("-submitted_at", "-pk").first()
    if origin is None:
        return []
    review_settings = review_settings_for(claim.scheme_id)
    window = timedelta(minutes=review_settings.velocity_window_minutes)
    around = {
        "submitted_at__gte": origin.submitted_at - window,
        "submitted_at__lte": origin.submitted_at + window,
    }
    signals = []
    for kind, field_name, value, title, detail in (
        (
            "ip_velocity",
            "ip_address",
            origin.ip_address,
            _("Many claims from one IP address"),
            _("%(count)s claims were sent from %(value)s within %(minutes)s minutes."),
        ),
        (
            "device_velocity",
            "device_hash",
            origin.device_hash,
            _("Many claims from one device"),
            _("%(count)s claims were sent from the same browser within %(minutes)s minutes."),
        ),
    ):
        if not value:
            continue
        rows = (
            SubmissionOrigin.objects.filter(**{field_name: value}, **around)
            .exclude(claim_id=claim.pk)
            .values_list("claim_id", "claim__number")
            .distinct()
        )
        matches = sorted(set(rows))
        if len(matches) + 1 >= review_settings.velocity_threshold:
            signals.append(
                Signal(
                    kind,
                    title,
                    detail
                    % {
                        "count": len(matches) + 1,
                        "value": value,
                        "minutes": review_settings.velocity_window_minutes,
                    },
                    matches[:50],
                )
            )
    return signals
