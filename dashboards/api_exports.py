"""/api/v1/dashboards/exports/: start a report export and follow it (status, progress, the
download address when done). Session-authenticated staff with the export permission, under
the same scope and the same filter validation as the reports page; errors are JSON with
``code`` and ``message``."""

from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.api import MayViewDashboards
from dashboards.exports import (
    export_get_for_user,
    export_request,
    exports_of,
    may_export,
    require_report_allowed,
)
from dashboards.forms_reports import ExportRequestForm
from dashboards.models import Export
from dashboards.scoping import NoDashboardAccess, Scope

LISTED_EXPORTS = 50
_REQUEST_FIELDS = ("report", "format", "scheme", "date_from", "date_to", "status")


class MayExportReports(MayViewDashboards):
    """As MayViewDashboards, and holding dashboards.export_report."""

    message = "This user may not export reports."

    def require(self, user: Any, scope: Scope) -> None:
        if not may_export(user):
            raise NoDashboardAccess(self.message)


class ExportSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(
        read_only=True, help_text="0-100: rows written over the rows counted at the start."
    )
    download_url = serializers.SerializerMethodField(
        help_text="Where the file is downloaded (session-authenticated); null until done, "
        "and after the file expired."
    )

    class Meta:
        model = Export
        fields = (
            "id",
            "report",
            "format",
            "filters",
            "status",
            "rows_written",
            "rows_total",
            "progress_percent",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "download_url",
        )
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        if export.status != Export.Status.DONE:
            return None
        if export.expires_at is not None and export.expires_at <= timezone.now():
            return None
        path = reverse("dashboards:export-download", args=[export.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ExportRequestSerializer(serializers.Serializer):
    """What POST takes (validated by the reports page's form, against your scope)."""

    report = serializers.ChoiceField(
        choices=Export.Report.choices,
        help_text="The loyalty reports (participant_balances, participants, settlement) are "
        "refused (403) to channel partners.",
    )
    format = serializers.ChoiceField(choices=Export.Format.choices, default=Export.Format.CSV)
    scheme = serializers.IntegerField(
        required=False,
        help_text="A loyalty scheme (loyalty reports) or a campaign (claims report) in your "
        "scope; any other id is refused (400) like one that does not exist.",
    )
    date_from = serializers.DateField(
        required=False, help_text="Sign-up day, first submission day or period start day."
    )
    date_to = serializers.DateField(required=False, help_text="Included.")
    status = serializers.CharField(
        required=False, help_text="A participant status, or a claim status (claims report)."
    )
    channel_partner = serializers.IntegerField(
        required=False, help_text="Claims report: a channel partner in your scope."
    )


class ExportErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not Serializer.errors
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Each field's messages (400 only).",
    )


def _error(code: str, message: str, http_status: int, **extra: Any) -> Response:
    return Response({"code": code, "message": message, **extra}, status=http_status)


class ExportAPIView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayExportReports,)

    def handle_exception(self, exc: Exception) -> Response:
        """A report the user may not have is a 403 of its own; the rest as every API's errors."""
        if isinstance(exc, NoDashboardAccess):
            return _error("report_not_allowed", str(exc), status.HTTP_403_FORBIDDEN)
        return super().handle_exception(exc)


ERROR_RESPONSES = {
    403: OpenApiResponse(ExportErrorSerializer, description="Not allowed to export (this report)."),
}


class ExportListView(ExportAPIView):
    @extend_schema(
        tags=["dashboards"],
        summary="Your latest exports",
        responses={200: ExportSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        exports = exports_of(request.user)[:LISTED_EXPORTS]
        return Response(ExportSerializer(exports, many=True, context={"request": request}).data)

    @extend_schema(
        tags=["dashboards"],
        summary="Start an export",
        description="Queues the report as a background task; follow it at the returned "
        "export's address until its status is done, then fetch download_url.",
        request=ExportRequestSerializer,
        responses={
            201: ExportSerializer,
            400: OpenApiResponse(ExportErrorSerializer, description="Filters not valid."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        scope: Scope = request.scope  # type: ignore[attr-defined]
        payload: Any = request.data if isinstance(request.data, dict) else {}
        data = {
            name: payload.get(name)
            for name in (*_REQUEST_FIELDS, "channel_partner")
            if payload.get(name) not in (None, "")
        }
        data.setdefault("format", Export.Format.CSV)
        require_report_allowed(scope, data.get("report"))
        form = ExportRequestForm(data, scope=scope)
        if not form.is_valid():
            errors = {
                field: [error["message"] for error in field_errors]
                for field, field_errors in form.errors.get_json_data().items()
            }
            return _error(
                "invalid_filters",
                "The report or its filters are not valid.",
                status.HTTP_400_BAD_REQUEST,
                errors=errors,
            )
        with transaction.atomic():
            export = export_request(
                user=request.user,
                report=form.cleaned_data["report"],
                file_format=form.cleaned_data["format"],
                filters=form.report_filters(),
            )
        body = ExportSerializer(export, context={"request": request}).data
        location = reverse("dashboards-api:export", args=[export.pk])
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})


class ExportDetailView(ExportAPIView):
    @extend_schema(
        tags=["dashboards"],
        summary="One of your exports: status, progress, download address",
        responses={
            200: ExportSerializer,
            404: OpenApiResponse(ExportErrorSerializer, description="No such export of yours."),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request, export_id: int) -> Response:
        scope: Scope = request.scope  # type: ignore[attr-defined]
        try:
            export = export_get_for_user(user=request.user, scope=scope, export_id=export_id)
        except Export.DoesNotExist:
            return _error("not_found", "No such export.", status.HTTP_404_NOT_FOUND)
        return Response(ExportSerializer(export, context={"request": request}).data)
