"""Customers out as CSV, streamed (no file or list of rows in memory), and audited."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from crm.audit import audit_record
from crm.models import Customer

EXPORT_COLUMNS = (
    "id",
    "member_number",
    "first_name",
    "last_name",
    "phone",
    "email",
    "language",
    "accepts_marketing_sms",
    "accepts_marketing_email",
    "consent_updated_at",
    "created_at",
    "merged_into",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it as text.
    return f"'{value}" if value[:1] in {"=", "+", "-", "@"} and not value[1:2].isdigit() else value


def _lines(queryset: QuerySet[Customer]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for customer in queryset.order_by("pk").iterator(chunk_size=2000):
        yield writer.writerow(
            [
                customer.pk,
                csv_safe(customer.member_number),
                csv_safe(customer.first_name),
                csv_safe(customer.last_name),
                customer.phone,
                csv_safe(customer.email),
                customer.preferred_language,
                "yes" if customer.accepts_marketing_sms else "no",
                "yes" if customer.accepts_marketing_email else "no",
                customer.consent_updated_at.isoformat() if customer.consent_updated_at else "",
                customer.created_at.isoformat(),
                customer.merged_into_id or "",
            ]
        )


def customers_export(
    *, queryset: QuerySet[Customer], actor: Any, filters: str
) -> StreamingHttpResponse:
    """A streaming CSV response of ``queryset`` (already access-checked by the caller); the
    export itself is an audit event (who, how many, which filters)."""
    with transaction.atomic():
        count = queryset.count()
        audit_record(
            action="customer.export",
            actor=actor,
            object_type="crm.customer",
            after={"rows": count, "filters": filters[:1000]},
        )
    response = StreamingHttpResponse(_lines(queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response
