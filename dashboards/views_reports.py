"""The reports page (/dashboards/reports/): choose a report, its filters and a format; the
export runs as a Celery task while the list of the user's exports polls for its progress;
the file is downloaded through an authorising view. Everything under dashboard_gate and the
export permission; filters are validated against the scope (dashboards.forms_reports)."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from crm.audit import audit_record
from dashboards.exports import (
    CONTENT_TYPES,
    export_get_for_user,
    export_request,
    exports_of,
    may_export,
    require_report_allowed,
)
from dashboards.forms_reports import ExportRequestForm
from dashboards.models import Export
from dashboards.scoping import Scope
from dashboards.views import dashboard_gate

# The list asks for fresh progress this often while an export is queued or running.
POLL_SECONDS = 3
# The page lists this many of the user's latest exports.
LISTED_EXPORTS = 20


def _scope_allowed_to_export(request: HttpRequest) -> Scope:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    if not may_export(request.user):
        raise PermissionDenied(_("This user may not export reports."))
    return scope


def _exports_context(request: HttpRequest) -> dict[str, Any]:
    exports = list(exports_of(request.user)[:LISTED_EXPORTS])
    return {
        "exports": exports,
        "is_polling": any(export.is_pending for export in exports),
        "poll_seconds": POLL_SECONDS,
        "now": timezone.now(),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
@dashboard_gate
def reports(request: HttpRequest) -> HttpResponse:
    scope = _scope_allowed_to_export(request)
    status = 200
    if request.method == "POST":
        require_report_allowed(scope, request.POST.get("report"))
        form = ExportRequestForm(request.POST, scope=scope)
        if form.is_valid():
            with transaction.atomic():
                export = export_request(
                    user=request.user,
                    report=form.cleaned_data["report"],
                    file_format=form.cleaned_data["format"],
                    filters=form.report_filters(),
                )
            messages.success(
                request,
                _("Export #%(id)d is queued; it appears below with its progress.")
                % {"id": export.pk},
            )
            return redirect("dashboards:reports")
        status = 400
    else:
        form = ExportRequestForm(scope=scope)
    return render(
        request,
        "dashboards/reports.html",
        {"form": form, **_exports_context(request)},
        status=status,
    )


@require_safe
@never_cache
@dashboard_gate
def exports_fragment(request: HttpRequest) -> HttpResponse:
    """The list of the user's exports alone, for the htmx poll."""
    _scope_allowed_to_export(request)
    return render(request, "dashboards/_reports_exports.html", _exports_context(request))


@require_safe
@never_cache
@dashboard_gate
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    """The file, to the user who asked for it (or an operator) while its report and filters
    are inside their scope; anyone else's export answers 404 like one that does not exist.
    Every download is audited."""
    scope = _scope_allowed_to_export(request)
    try:
        export = export_get_for_user(user=request.user, scope=scope, export_id=export_id)
    except Export.DoesNotExist as error:
        raise Http404(_("No such export.")) from error
    if export.status != Export.Status.DONE:
        raise Http404(_("This export has no file yet."))
    if export.expires_at is not None and export.expires_at <= timezone.now():
        return render(request, "dashboards/reports_expired.html", {"export": export}, status=410)
    file = default_storage.open(export.storage_name, "rb")
    audit_record(
        action="dashboards.export_downloaded",
        actor=request.user,
        target=export,
        after={"report": export.report, "format": export.format, "rows": export.rows_written},
    )
    # A streaming response; dashboard_gate passes any response through.
    return FileResponse(  # type: ignore[return-value]
        file,
        as_attachment=True,
        filename=export.download_name,
        content_type=CONTENT_TYPES[export.format],
    )
