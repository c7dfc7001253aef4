"""The dry run and the import of a CustomerImport.

upload -> ``customer_import_create`` (status uploaded) -> ``customer_import_check`` (the dry
run: reads, validates and matches every row, writes the errors and counts, changes no
customer; status checked) -> the operator reads the report and confirms ->
``customer_import_confirm`` (status importing) -> ``customer_import_run``: everything again,
in one transaction. If any row has an error and the operator did not ask to import the valid
rows, the transaction is rolled back (nothing imported) and the import ends refused.

Progress: the dry run saves ``processed_rows`` as it goes. The import is one transaction,
whose writes nobody else sees until it commits, so it reports progress through the cache
(``import_progress``).

Small files run in the request; larger ones in Celery (crm.imports.tasks), both through the
same functions.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.audit import audit_record
from crm.imports.export import csv_safe
from crm.imports.parsing import ImportFileError, read_rows
from crm.imports.rows import CleanRow, Matcher, RowError, fill_blanks, row_clean
from crm.models import Customer, CustomerImport, CustomerImportError

logger = logging.getLogger(__name__)

Status = CustomerImport.Status
CHUNK_ROWS = 1000
PROGRESS_CACHE_SECONDS = 24 * 3600


class ImportActionError(Exception):
    """An import step that is not allowed now; the message says why, for a person."""


def inline_max_bytes() -> int:
    """Files up to this size are checked and imported in the request, larger ones by Celery."""
    return int(settings.CRM_IMPORT_INLINE_MAX_BYTES)


def max_upload_bytes() -> int:
    return int(settings.CRM_IMPORT_MAX_BYTES)


def file_format_for(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".xml"):
        return CustomerImport.Format.XML
    if lowered.endswith((".csv", ".txt")):
        return CustomerImport.Format.CSV
    raise ImportActionError("Upload a .csv or an .xml file.")


def customer_import_create(
    *, upload: UploadedFile, country_calling_code: str, import_valid_rows: bool, actor: Any
) -> CustomerImport:
    file_format = file_format_for(upload.name or "")
    if upload.size is not None and upload.size > max_upload_bytes():
        raise ImportActionError(f"The file is larger than {max_upload_bytes()} bytes.")
    with transaction.atomic():
        customer_import = CustomerImport(
            original_name=(upload.name or "")[:255],
            format=file_format,
            default_country_calling_code=country_calling_code,
            import_valid_rows=import_valid_rows,
            created_by=actor,
        )
        customer_import.file.save(upload.name or "import", upload, save=False)
        customer_import.save(force_insert=True)
        audit_record(
            action="customer_import.upload",
            actor=actor,
            target=customer_import,
            after={"file": customer_import.original_name, "format": file_format},
        )
    return customer_import


@dataclass
class _Pass:
    """One pass over the file: rows read, errors, and what the valid rows would do."""

    total: int = 0
    error_lines: set[int] = field(default_factory=set)
    errors: list[RowError] = field(default_factory=list)
    new: int = 0
    matched: int = 0

    def add_errors(self, errors: list[RowError]) -> None:
        self.errors.extend(errors)
        self.error_lines.update(error.line for error in errors)


def _valid_chunks(customer_import: CustomerImport, result: _Pass) -> Iterator[list[CleanRow]]:
    """Reads the file, yielding chunks of valid, matched rows; errors collect in ``result``.
    Raises ImportFileError when the file as a whole cannot be read."""
    matcher = Matcher()
    pending: list[CleanRow] = []

    def flush() -> list[CleanRow]:
        result.add_errors(matcher.match_chunk(pending))
        valid = [row for row in pending if row.line not in result.error_lines]
        result.new += sum(1 for row in valid if row.match is None)
        result.matched += sum(1 for row in valid if row.match is not None)
        return valid

    with customer_import.file.open("rb") as file:
        for source_row in read_rows(file, file_format=customer_import.format):
            result.total += 1
            clean, errors = row_clean(
                source_row, country_calling_code=customer_import.default_country_calling_code
            )
            result.add_errors(errors)
            if clean is not None:
                pending.append(clean)
            if len(pending) >= CHUNK_ROWS:
                yield flush()
                pending = []
        if pending:
            yield flush()


def _save_errors(customer_import: CustomerImport, errors: list[RowError]) -> None:
    customer_import.errors.all().delete()
    CustomerImportError.objects.bulk_create(
        (
            CustomerImportError(
                customer_import=customer_import,
                line=error.line,
                field=error.field,
                value=error.value[:255],
                message=error.message[:500],
            )
            for error in errors
        ),
        batch_size=CHUNK_ROWS,
    )


def customer_import_check(*, import_id: int) -> CustomerImport:
    """The dry run. Safe to run twice: a second run starts again from the top."""
    with transaction.atomic():
        customer_import = CustomerImport.objects.select_for_update().get(pk=import_id)
        if customer_import.status not in {Status.UPLOADED, Status.CHECKING, Status.CHECKED}:
            return customer_import
        customer_import.status = Status.CHECKING
        customer_import.processed_rows = 0
        customer_import.save(update_fields=["status", "processed_rows"])
    result = _Pass()
    try:
        for _chunk in _valid_chunks(customer_import, result):
            CustomerImport.objects.filter(pk=import_id).update(processed_rows=result.total)
    except ImportFileError as error:
        result.add_errors([RowError(error.line, "", "", error.message)])
    with transaction.atomic():
        _save_errors(customer_import, result.errors)
        customer_import.status = Status.CHECKED
        customer_import.total_rows = customer_import.processed_rows = result.total
        customer_import.error_rows = len(result.error_lines)
        customer_import.valid_rows = result.new + result.matched
        customer_import.new_rows = result.new
        customer_import.matched_rows = result.matched
        customer_import.checked_at = timezone.now()
        customer_import.save(
            update_fields=[
                "status",
                "total_rows",
                "processed_rows",
                "error_rows",
                "valid_rows",
                "new_rows",
                "matched_rows",
                "checked_at",
            ]
        )
    return customer_import


def has_file_error(customer_import: CustomerImport) -> bool:
    """A problem with the file itself (line 0 or no row read): nothing can be imported."""
    return customer_import.errors.filter(field="", line=0).exists() or (
        customer_import.error_rows > 0 and customer_import.valid_rows == 0
    )


def customer_import_confirm(
    *, customer_import: CustomerImport, actor: Any, import_valid_rows: bool
) -> CustomerImport:
    """Starts the import of a checked file (the caller schedules ``customer_import_run``
    after commit). With errors in the dry run, ``import_valid_rows`` must be set."""
    with transaction.atomic():
        locked = CustomerImport.objects.select_for_update().get(pk=customer_import.pk)
        if locked.status != Status.CHECKED:
            raise ImportActionError(
                f"Only a checked import can be confirmed; this one is "
                f"{locked.get_status_display().lower()}."
            )
        if locked.valid_rows == 0:
            raise ImportActionError("No row of this file can be imported.")
        if locked.error_rows and not import_valid_rows:
            raise ImportActionError(
                "Some rows have errors: correct the file and upload it again, or choose to "
                "import the valid rows only."
            )
        locked.status = Status.IMPORTING
        locked.import_valid_rows = import_valid_rows
        locked.confirmed_by = actor
        locked.processed_rows = 0
        locked.save(update_fields=["status", "import_valid_rows", "confirmed_by", "processed_rows"])
        audit_record(
            action="customer_import.confirm",
            actor=actor,
            target=locked,
            after={"import_valid_rows": import_valid_rows, "valid_rows": locked.valid_rows},
        )
    cache.set(_progress_key(locked.pk), 0, PROGRESS_CACHE_SECONDS)
    return locked


def _progress_key(import_id: int) -> str:
    return f"crm:customer-import:{import_id}:progress"


def import_progress(customer_import: CustomerImport) -> int:
    """Rows processed so far (read from the cache while importing)."""
    if customer_import.status == Status.IMPORTING:
        return int(cache.get(_progress_key(customer_import.pk)) or 0)
    return customer_import.processed_rows


class _RollBack(Exception):
    pass


def customer_import_run(*, import_id: int) -> CustomerImport:
    """The import itself: all valid rows in one transaction, or nothing. Safe to run twice:
    the import row is locked for the whole transaction and only an importing one runs."""
    result = _Pass()
    try:
        with transaction.atomic():
            customer_import = CustomerImport.objects.select_for_update().get(pk=import_id)
            if customer_import.status != Status.IMPORTING:
                return customer_import
            counts = _import_rows(customer_import, result)
            if result.errors and not customer_import.import_valid_rows:
                raise _RollBack
            _save_errors(customer_import, result.errors)
            customer_import.status = Status.IMPORTED
            customer_import.imported_at = timezone.now()
            customer_import.total_rows = customer_import.processed_rows = result.total
            customer_import.error_rows = len(result.error_lines)
            customer_import.valid_rows = result.new + result.matched
            customer_import.created_count = counts["created"]
            customer_import.updated_count = counts["updated"]
            customer_import.unchanged_count = counts["unchanged"]
            customer_import.save()
            audit_record(
                action="customer_import.import",
                actor=customer_import.confirmed_by,
                target=customer_import,
                after={**counts, "error_rows": customer_import.error_rows},
            )
    except (_RollBack, ImportFileError, IntegrityError) as error:
        if isinstance(error, ImportFileError):
            result.add_errors([RowError(error.line, "", "", error.message)])
        elif isinstance(error, IntegrityError):
            # A customer with the same phone, email or member number appeared meanwhile.
            message = f"A customer was created meanwhile with the same details: {error}"
            result.add_errors([RowError(0, "", "", message[:500])])
        with transaction.atomic():
            customer_import = CustomerImport.objects.select_for_update().get(pk=import_id)
            _save_errors(customer_import, result.errors)
            customer_import.status = Status.REFUSED
            customer_import.error_rows = len(result.error_lines)
            customer_import.refusal = (
                f"{customer_import.error_rows} row(s) have errors now (the data changed since "
                "the dry run, or the file could not be read): nothing was imported."
            )
            customer_import.save(update_fields=["status", "error_rows", "refusal"])
            audit_record(
                action="customer_import.refused",
                actor=customer_import.confirmed_by,
                target=customer_import,
                after={"error_rows": customer_import.error_rows},
            )
    cache.delete(_progress_key(import_id))
    return customer_import


def _import_rows(customer_import: CustomerImport, result: _Pass) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    now = timezone.now()
    actor = customer_import.confirmed_by
    for chunk in _valid_chunks(customer_import, result):
        new_customers = [
            Customer(
                first_name=row.first_name,
                last_name=row.last_name,
                phone=row.phone,
                email=row.email,
                member_number=row.member_number,
                preferred_language=row.language or "en",
                accepts_marketing_sms=bool(row.accepts_marketing_sms),
                accepts_marketing_email=bool(row.accepts_marketing_email),
                consent_updated_at=now
                if row.accepts_marketing_sms is not None or row.accepts_marketing_email is not None
                else None,
            )
            for row in chunk
            if row.match is None
        ]
        Customer.objects.bulk_create(new_customers, batch_size=CHUNK_ROWS)
        counts["created"] += len(new_customers)
        for row in chunk:
            if row.match is None:
                continue
            customer = row.match
            before = {
                name: getattr(customer, name)
                for name in ("first_name", "last_name", "phone", "email", "member_number")
            }
            filled = fill_blanks(customer, row)
            if not filled:
                counts["unchanged"] += 1
                continue
            customer.save(update_fields=filled)
            counts["updated"] += 1
            audit_record(
                action="customer.import_completed",
                actor=actor,
                target=customer,
                before={name: before[name] for name in filled},
                after={
                    **{name: getattr(customer, name) for name in filled},
                    "import": customer_import.pk,
                },
            )
        cache.set(_progress_key(customer_import.pk), result.total, PROGRESS_CACHE_SECONDS)
    return counts


def import_errors_csv_rows(customer_import: CustomerImport) -> Iterator[list[str]]:
    yield ["line", "field", "value", "error"]
    for error in customer_import.errors.order_by("line", "id").iterator(chunk_size=2000):
        # The values come from an uploaded file: never let a spreadsheet run them.
        yield [str(error.line), error.field, csv_safe(error.value), csv_safe(error.message)]
