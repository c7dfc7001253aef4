"""Report exports: asking for one, running it (the Celery task calls export_run), finding the
ones a user may see, and writing CSV and XLSX files.

Every export goes through the task, small or large: export_request writes the row and the
"requested" audit event and enqueues the task after commit; export_run writes the file to
the private default storage (outside the web root) and records progress on the row as it
goes, so the page and the API can show it. A run holds a PostgreSQL session advisory lock
on the export, so two deliveries of the task never write at once; a finished export (done
or failed) is never run again. A worker killed mid-run leaves the row "running" and
releases the lock with its connection; the redelivered task (acks_late) writes the file
again from the start, under the same name.
"""

import csv
import io
import logging
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from crm.audit import audit_record
from crm.roles import Role, user_roles
from dashboards.forms_reports import ExportRequestForm, form_data_of
from dashboards.models import Export
from dashboards.reports import LOYALTY_REPORTS, REPORTS, ReportFilters, may_export_loyalty
from dashboards.scoping import NoDashboardAccess, Scope, scope_for_user

logger = logging.getLogger(__name__)

EXPORT_REPORT = "dashboards.export_report"
STORAGE_FOLDER = "exports"
# How long a finished file can be downloaded.
RETENTION = timedelta(days=7)
# Progress is written to the row after every this many rows.
PROGRESS_EVERY_ROWS = 2000
# A sheet holds 1,048,576 rows, one of them the header.
XLSX_MAX_ROWS = 1_048_575
# pg_try_advisory_lock(key, export id): the first half of the key names these runs.
_RUN_LOCK_KEY = 7_100_431
# Spreadsheets run a cell starting with one of these as a formula (or, for tab and carriage
# return, strip them and then do): such text gets a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES: dict[str, str] = {
    Export.Format.CSV: "text/csv; charset=utf-8",
    Export.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportRefused(Exception):
    """An export this user may not (or no longer) have; the message is for them."""


def may_export(user: Any) -> bool:
    return bool(user.has_perm(EXPORT_REPORT))


def require_report_allowed(scope: Scope, report: str | None) -> None:
    """Loyalty reports are refused to a scope that may not see the loyalty board (a
    channel partner): loyalty rows carry no partner. Raises NoDashboardAccess (403)."""
    if report in LOYALTY_REPORTS and not may_export_loyalty(scope):
        raise NoDashboardAccess(_("Loyalty reports are not open to this user."))


# -- asking for one ------------------------------------------------------------------------------


def export_request(*, user: Any, report: str, file_format: str, filters: ReportFilters) -> Export:
    """Records an export for ``user`` (their filters already validated against their scope
    by ExportRequestForm), audits it, and enqueues the task once the row is committed."""
    from dashboards.export_tasks import export_run_task  # it imports this module

    now = timezone.now()
    with transaction.atomic():
        export = Export.objects.create(
            requested_by=user,
            report=report,
            format=file_format,
            filters=filters.as_json(),
            storage_name=f"{STORAGE_FOLDER}/{secrets.token_hex(16)}.{file_format}",
            download_name=f"{report.replace('_', '-')}-{timezone.localtime(now):%Y%m%d-%H%M}"
            f".{file_format}",
            created_at=now,
        )
        audit_record(
            action="dashboards.export_requested",
            actor=user,
            target=export,
            after={"report": report, "format": file_format, "filters": export.filters},
        )
        transaction.on_commit(lambda: export_run_task.delay(export.pk))
    return export


# -- who sees which ------------------------------------------------------------------------------


def exports_of(user: Any) -> QuerySet[Export]:
    """The exports a user asked for, newest first (the page's and the API's list)."""
    return Export.objects.filter(requested_by=user).order_by("-created_at", "-pk")


def export_get_for_user(*, user: Any, scope: Scope, export_id: int) -> Export:
    """The export if ``user`` asked for it, or is an operator, and its report and filters
    are still inside ``user``'s scope; otherwise Export.DoesNotExist (views answer 404, the
    same as for an id that does not exist)."""
    exports = Export.objects.select_related("requested_by")
    if not (user.is_superuser or Role.OPERATOR in user_roles(user)):
        exports = exports.filter(requested_by=user)
    export = exports.get(pk=export_id)
    if not _fits_scope(export, scope):
        raise Export.DoesNotExist
    return export


def _fits_scope(export: Export, scope: Scope) -> bool:
    if export.report in LOYALTY_REPORTS and not may_export_loyalty(scope):
        return False
    return ExportRequestForm(form_data_of(export), scope=scope).is_valid()


# -- running one ---------------------------------------------------------------------------------


@contextmanager
def _run_lock(export_id: int) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_RUN_LOCK_KEY, export_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_RUN_LOCK_KEY, export_id])


def _validated_filters(export: Export) -> tuple[Scope, ReportFilters]:
    """The export's filters checked again against its requester's scope now: a user who
    lost access, or a scheme moved out of their scope, gets no file."""
    user = export.requested_by
    try:
        scope = scope_for_user(user)
        require_report_allowed(scope, export.report)
    except NoDashboardAccess as error:
        raise ExportRefused(_("You may no longer export this report.")) from error
    if not may_export(user):
        raise ExportRefused(_("You may no longer export this report."))
    form = ExportRequestForm(form_data_of(export), scope=scope)
    if not form.is_valid():
        raise ExportRefused(_("The filters are no longer valid for you."))
    return scope, form.report_filters()


def export_run(*, export_id: int) -> str:
    """Writes the export's file; returns the status it ends in ("busy" when another run
    holds it, "missing" when the row is gone). Safe to call twice: a done or failed export
    is left as it is."""
    with _run_lock(export_id) as acquired:
        if not acquired:
            return "busy"
        export = Export.objects.select_related("requested_by").filter(pk=export_id).first()
        if export is None:
            return "missing"
        if export.status in (Export.Status.DONE, Export.Status.FAILED):
            return export.status
        try:
            scope, filters = _validated_filters(export)
            definition = REPORTS[export.report]
            total = definition.count(scope, filters)
            if export.format == Export.Format.XLSX and total > XLSX_MAX_ROWS:
                raise ExportRefused(
                    _("%(rows)d rows do not fit in one Excel sheet; export them as CSV.")
                    % {"rows": total}
                )
            Export.objects.filter(pk=export.pk).update(
                status=Export.Status.RUNNING,
                started_at=timezone.now(),
                rows_total=total,
                rows_written=0,
            )
            rows = definition.rows(scope, filters, at=timezone.now())
            written, size = _store(export, definition.columns, rows)
        except ExportRefused as error:
            return _fail(export, str(error))
        except SoftTimeLimitExceeded:
            logger.warning("Export %s ran out of time", export_id)
            return _fail(export, _("The export took too long. Narrow the filters and retry."))
        except Exception:
            logger.exception("Export %s failed", export_id)
            return _fail(export, _("The export failed unexpectedly. Please try again."))
        finished = timezone.now()
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.DONE,
            rows_written=written,
            size_bytes=size,
            finished_at=finished,
            expires_at=finished + RETENTION,
            error="",
        )
        return Export.Status.DONE


def _fail(export: Export, message: str) -> str:
    default_storage.delete(export.storage_name)
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.FAILED, error=message, finished_at=timezone.now()
    )
    return Export.Status.FAILED


def _progress(export_id: int, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for written, row in enumerate(rows, start=1):
        yield row
        if written % PROGRESS_EVERY_ROWS == 0:
            Export.objects.filter(pk=export_id).update(rows_written=written)


def _store(
    export: Export, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> tuple[int, int]:
    """Writes the file to a temporary file, then to the storage under the export's name
    (replacing what a killed run left there). Returns rows written and bytes."""
    counted = _progress(export.pk, rows)
    with tempfile.TemporaryFile() as buffer:
        if export.format == Export.Format.XLSX:
            written = write_xlsx(buffer, columns, counted, title=export.get_report_display())
        else:
            written = write_csv(buffer, columns, counted)
        size = buffer.tell()
        buffer.seek(0)
        default_storage.delete(export.storage_name)
        stored_name = default_storage.save(export.storage_name, File(buffer))
    if stored_name != export.storage_name:  # a storage that renamed it
        Export.objects.filter(pk=export.pk).update(storage_name=stored_name)
    return written, size


def exports_purge_expired(*, now: datetime | None = None) -> int:
    """Deletes the files of done exports past ``expires_at`` (the rows stay, with their
    audit trail; the download view already refuses them). Returns how many were deleted.
    Safe to run twice: a file already gone is skipped."""
    now = now or timezone.now()
    purged = 0
    expired = Export.objects.filter(
        status=Export.Status.DONE, expires_at__lte=now, size_bytes__isnull=False
    )
    for export_id, storage_name in expired.values_list("pk", "storage_name").iterator():
        default_storage.delete(storage_name)
        Export.objects.filter(pk=export_id).update(size_bytes=None)
        purged += 1
    return purged


# -- the files -----------------------------------------------------------------------------------


def guarded_text(text: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _local(moment: datetime) -> datetime:
    """An aware moment in the site's time zone, to the second, without the zone."""
    return timezone.localtime(moment).replace(microsecond=0, tzinfo=None)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return guarded_text(str(value))


def xlsx_cell(value: Any) -> Any:
    if value is None or (isinstance(value, int | date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return _local(value)
    return guarded_text(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def write_csv(buffer: IO[bytes], columns: Iterable[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """UTF-8 with a byte order mark (so Excel reads it as UTF-8), separated by semicolons
    (Excel's list separator in Swedish and most European locales); the csv module quotes
    every field holding a semicolon, a quote or a line break."""
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")
    writer = csv.writer(text, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(columns)
    written = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        written += 1
    text.flush()
    text.detach()
    return written


def write_xlsx(
    buffer: IO[bytes], columns: Iterable[str], rows: Iterable[tuple[Any, ...]], *, title: str
) -> int:
    """A write-only workbook (rows go straight to a temporary file, so memory stays flat),
    one sheet, the header in the first row."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(columns))
    written = 0
    for row in rows:
        sheet.append([xlsx_cell(value) for value in row])
        written += 1
    workbook.save(buffer)
    return written
