"""Exports end to end: the task writes CSV and XLSX files read back exactly, guards against
formula injection, is enqueued only after commit and never redoes a finished export; the
page, the download view and the JSON API refuse other users' exports and bad filters;
every request and download is audited."""

import csv
import io
from datetime import datetime, timedelta
from unittest import mock

import openpyxl
import pytest
import time_machine
from django.core.files.storage import default_storage
from django.urls import reverse

from crm.models import AuditEvent
from crm.roles import Role
from dashboards import exports
from dashboards.exports import export_request, export_run
from dashboards.models import Export
from dashboards.reports import ReportFilters
from tests.claims.conftest import private_storage  # noqa: F401
from tests.crm.factories import staff_user
from tests.dashboards.campaign_data import build_campaigns, partner_user
from tests.dashboards.conftest import at, client_manager_of

pytestmark = pytest.mark.django_db

EXPORTS_API = "dashboards-api:exports"
CSV_HEADER = [
    "participant_id",
    "member_number",
    "customer_name",
    "scheme",
    "sign_up_unit_code",
    "sign_up_unit",
    "signed_up_at",
    "status",
    "terminated_at",
    "termination_reason",
    "purchases",
]


@pytest.fixture
def storage(private_storage):  # noqa: F811
    return private_storage


@pytest.fixture
def manager(ledger):
    """A client manager of scheme A's client; P1's customer has a name and number that
    spreadsheets would run as formulas."""
    customer = ledger.participants["P1"].customer
    customer.first_name, customer.last_name, customer.member_number = "=1+2", "@SUM(A1)", "+4670"
    customer.save(update_fields=["first_name", "last_name", "member_number"])
    return client_manager_of(ledger.client_a)


def local(text: str) -> datetime:
    """A wall-clock time as a spreadsheet cell holds it (no zone)."""
    return datetime.fromisoformat(text)


def request_export(user, report, file_format="csv", filters=None, *, capture) -> Export:
    with capture(execute=False) as callbacks:
        export = export_request(
            user=user, report=report, file_format=file_format, filters=filters or ReportFilters()
        )
    assert len(callbacks) == 1
    return export


def file_bytes(export: Export) -> bytes:
    export.refresh_from_db()
    with default_storage.open(export.storage_name, "rb") as file:
        return file.read()


def expected_participant_rows(ledger) -> list[list[str]]:
    """Times in Stockholm (summer time in August to October)."""
    people = ledger.participants
    code = ledger.scheme_a.code
    p1, p2, p3, p4 = (people[key] for key in ("P1", "P2", "P3", "P4"))
    return [
        [str(p1.pk), "'+4670", "'=1+2 @SUM(A1)", code, p1.sign_up_merchant.code, "Shop North",
         "2026-08-03 14:00:00", "effective", "", "", "2"],
        [str(p2.pk), "", f"Ada {p2.customer.last_name}", code, p2.sign_up_merchant.code,
         "Shop South", "2026-08-03 14:00:00", "terminated", "2026-09-15 14:00:00", "fraud", "1"],
        [str(p3.pk), "", f"Ada {p3.customer.last_name}", code, "", "", "2026-08-03 14:00:00",
         "terminated", "2026-10-20 14:00:00", "inactivity", "1"],
        [str(p4.pk), "", f"Ada {p4.customer.last_name}", code, p4.sign_up_merchant.code,
         "Shop North", "2026-10-05 14:00:00", "effective", "", "", "1"],
    ]  # fmt: skip


def test_a_csv_export_is_utf8_with_bom_semicolons_and_guarded_cells(
    manager, ledger, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )

    assert export_run(export_id=export.pk) == "done"

    content = file_bytes(export)
    assert content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in content
    parsed = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert parsed == [CSV_HEADER, *expected_participant_rows(ledger)]
    export.refresh_from_db()
    assert (export.status, export.rows_total, export.rows_written) == ("done", 4, 4)
    assert export.size_bytes == len(content)
    assert export.progress_percent == 100
    assert export.expires_at == export.finished_at + exports.RETENTION
    assert export.download_name.startswith("participants-")
    assert export.download_name.endswith(".csv")
    # private storage, outside the web root
    assert (storage / export.storage_name).is_file()


def test_a_csv_cell_holding_a_semicolon_or_quote_is_quoted():
    buffer = io.BytesIO()
    exports.write_csv(buffer, ["a", "b"], [("x;y", 'say "hi"'), ("-3", -3)])

    assert buffer.getvalue().decode("utf-8-sig") == ('a;b\r\n"x;y";"say ""hi"""\r\n\'-3;-3\r\n')


def test_an_xlsx_export_reads_back_exactly(
    manager, ledger, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, "xlsx", capture=django_capture_on_commit_callbacks
    )

    assert export_run(export_id=export.pk) == "done"

    workbook = openpyxl.load_workbook(io.BytesIO(file_bytes(export)), read_only=True)
    sheet = workbook.worksheets[0]
    assert sheet.title == "Participants report"
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    people = ledger.participants
    p1 = people["P1"]

    assert values[0] == CSV_HEADER
    assert values[1] == [
        p1.pk, "'+4670", "'=1+2 @SUM(A1)", ledger.scheme_a.code, p1.sign_up_merchant.code,
        "Shop North", local("2026-08-03T14:00"), "effective", None, None, 2,
    ]  # fmt: skip
    assert [row[0] for row in values[1:]] == [people[key].pk for key in ("P1", "P2", "P3", "P4")]
    assert values[2][8:11] == [local("2026-09-15T14:00"), "fraud", 1]
    # no cell is a formula
    assert not any(isinstance(cell, str) and cell.startswith("=") for row in values for cell in row)


def test_the_balance_report_writes_its_dates_as_dates(
    manager, ledger, storage, django_capture_on_commit_callbacks
):
    with time_machine.travel(at("2026-10-21"), tick=False):
        export = request_export(
            manager,
            Export.Report.PARTICIPANT_BALANCES,
            "xlsx",
            capture=django_capture_on_commit_callbacks,
        )
        export_run(export_id=export.pk)

    workbook = openpyxl.load_workbook(io.BytesIO(file_bytes(export)), read_only=True)
    values = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    assert values[1][6:] == [20, 0, local("2026-11-05T00:00"), 10]
    assert values[4][6:] == [35, 0, local("2026-11-04T00:00"), 30]


def test_the_task_is_enqueued_after_commit_with_the_id(
    manager, storage, django_capture_on_commit_callbacks
):
    with mock.patch("dashboards.export_tasks.export_run_task.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            export = export_request(
                user=manager,
                report=Export.Report.PARTICIPANTS,
                file_format="csv",
                filters=ReportFilters(),
            )
            assert delay.call_count == 0
        assert len(callbacks) == 1
        callbacks[0]()

    delay.assert_called_once_with(export.pk)
    assert export.status == "queued"


def test_a_second_run_does_not_redo_a_done_export(
    manager, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    export_run(export_id=export.pk)
    export.refresh_from_db()
    finished_at, content = export.finished_at, file_bytes(export)

    with mock.patch.object(exports, "write_csv") as write_csv:
        assert export_run(export_id=export.pk) == "done"

    write_csv.assert_not_called()
    export.refresh_from_db()
    assert export.finished_at == finished_at
    assert file_bytes(export) == content


def test_a_run_held_by_another_worker_is_left_to_it(
    manager, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    with mock.patch.object(exports, "_run_lock") as run_lock:
        run_lock.return_value.__enter__.return_value = False
        assert export_run(export_id=export.pk) == "busy"

    export.refresh_from_db()
    assert export.status == "queued"


def test_a_failure_marks_the_export_failed_with_its_message(
    manager, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    with mock.patch.object(exports, "write_csv", side_effect=OSError("disk full")):
        assert export_run(export_id=export.pk) == "failed"

    export.refresh_from_db()
    assert export.status == "failed"
    assert export.error == "The export failed unexpectedly. Please try again."
    assert export.finished_at is not None
    assert not default_storage.exists(export.storage_name)
    # and it is not run again
    assert export_run(export_id=export.pk) == "failed"


def test_an_export_of_a_user_who_lost_access_fails_with_a_clear_message(
    manager, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    manager.groups.clear()

    assert export_run(export_id=export.pk) == "failed"

    export.refresh_from_db()
    assert export.error == "You may no longer export this report."
    assert export.rows_written == 0


def test_requesting_and_downloading_are_audited(
    manager, storage, sign_in, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    export_run(export_id=export.pk)
    client = sign_in(manager)

    response = client.get(reverse("dashboards:export-download", args=[export.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="participants-')
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content) == file_bytes(export)
    events = AuditEvent.objects.filter(object_type="dashboards.export", object_id=str(export.pk))
    assert list(events.order_by("id").values_list("action", "actor_id")) == [
        ("dashboards.export_requested", manager.pk),
        ("dashboards.export_downloaded", manager.pk),
    ]
    assert events.order_by("id").first().after == {
        "report": "participants",
        "format": "csv",
        "filters": {},
    }


# -- who may reach an export ------------------------------------------------------------------


@pytest.fixture
def campaigns(storage):
    return build_campaigns()


def done_export(user, report, capture, filters=None) -> Export:
    export = request_export(user, report, filters=filters, capture=capture)
    export_run(export_id=export.pk)
    export.refresh_from_db()
    return export


def test_another_partners_export_is_404_everywhere(
    campaigns, sign_in, django_capture_on_commit_callbacks
):
    partner_1 = partner_user(campaigns.client_a, campaigns.partner_1)
    partner_2 = partner_user(campaigns.client_a, campaigns.partner_2)
    theirs = done_export(partner_2, Export.Report.CLAIMS, django_capture_on_commit_callbacks)
    client = sign_in(partner_1)
    audited = AuditEvent.objects.count()

    download = client.get(reverse("dashboards:export-download", args=[theirs.pk]))
    detail = client.get(reverse("dashboards-api:export", args=[theirs.pk]))
    listed = client.get(reverse(EXPORTS_API))

    assert download.status_code == 404
    assert detail.status_code == 404
    assert detail.json() == {"code": "not_found", "message": "No such export."}
    assert listed.json() == []
    assert AuditEvent.objects.count() == audited


def test_a_partners_own_claims_export_holds_only_their_rows(
    campaigns, sign_in, django_capture_on_commit_callbacks
):
    partner = partner_user(campaigns.client_a, campaigns.partner_1)
    export = done_export(partner, Export.Report.CLAIMS, django_capture_on_commit_callbacks)
    parsed = list(csv.reader(io.StringIO(file_bytes(export).decode("utf-8-sig")), delimiter=";"))

    assert [row[1] for row in parsed[1:]] == ["Summer scratch card"] * 4
    assert {row[7] for row in parsed[1:]} == {"North region"}


def test_an_operator_may_download_anyones_export(
    campaigns, sign_in, django_capture_on_commit_callbacks
):
    partner = partner_user(campaigns.client_a, campaigns.partner_1)
    export = done_export(partner, Export.Report.CLAIMS, django_capture_on_commit_callbacks)
    client = sign_in(staff_user(Role.OPERATOR))

    response = client.get(reverse("dashboards:export-download", args=[export.pk]))

    assert response.status_code == 200


def test_an_export_whose_campaign_left_the_scope_is_404(
    campaigns, sign_in, django_capture_on_commit_callbacks
):
    manager = client_manager_of(campaigns.client_a)
    export = done_export(
        manager,
        Export.Report.CLAIMS,
        django_capture_on_commit_callbacks,
        ReportFilters(scheme_id=campaigns.campaign_1.pk),
    )
    manager.staff_profile.client = campaigns.client_b
    manager.staff_profile.save(update_fields=["client"])
    client = sign_in(manager)

    assert client.get(reverse("dashboards:export-download", args=[export.pk])).status_code == 404


def test_an_expired_file_is_gone(manager, storage, sign_in, django_capture_on_commit_callbacks):
    export = done_export(manager, Export.Report.PARTICIPANTS, django_capture_on_commit_callbacks)
    client = sign_in(manager)

    with time_machine.travel(export.expires_at, tick=False):
        response = client.get(reverse("dashboards:export-download", args=[export.pk]))
        detail = client.get(reverse("dashboards-api:export", args=[export.pk])).json()

    assert response.status_code == 410
    assert detail["download_url"] is None


# -- the page -----------------------------------------------------------------------------------


def test_the_reports_page_shows_an_empty_state_then_the_export_with_progress(
    manager, storage, sign_in, django_capture_on_commit_callbacks
):
    client = sign_in(manager)
    page = client.get(reverse("dashboards:reports"))
    assert page.status_code == 200
    assert "No exports yet" in page.content.decode()
    home = client.get(reverse("dashboards:home")).content.decode()
    assert reverse("dashboards:reports") in home

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("dashboards:reports"),
            {"report": "participants", "format": "xlsx", "status": "terminated"},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    export = Export.objects.get(requested_by=manager)
    assert (export.report, export.format, export.filters) == (
        "participants",
        "xlsx",
        {"status": "terminated"},
    )
    Export.objects.filter(pk=export.pk).update(status="running", rows_total=4, rows_written=2)

    fragment = client.get(reverse("dashboards:reports-exports")).content.decode()
    assert 'hx-trigger="every 3s"' in fragment
    assert '<progress max="100" value="50"' in fragment
    assert "2 of 4 rows (50 %)" in fragment

    Export.objects.filter(pk=export.pk).update(status="queued")
    export_run(export_id=export.pk)
    fragment = client.get(reverse("dashboards:reports-exports")).content.decode()
    assert "hx-trigger" not in fragment
    assert reverse("dashboards:export-download", args=[export.pk]) in fragment
    assert "2 rows" in fragment


def test_the_page_refuses_a_scheme_outside_the_scope(
    manager, ledger, storage, sign_in, django_capture_on_commit_callbacks
):
    client = sign_in(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("dashboards:reports"),
            {"report": "participants", "format": "csv", "scheme": ledger.scheme_b.pk},
        )

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert callbacks == []
    assert not Export.objects.exists()


def test_a_channel_partner_is_refused_loyalty_reports(campaigns, sign_in):
    partner = partner_user(campaigns.client_a, campaigns.partner_1)
    client = sign_in(partner)

    page = client.post(reverse("dashboards:reports"), {"report": "participants", "format": "csv"})
    api = client.post(
        reverse(EXPORTS_API), {"report": "settlement"}, content_type="application/json"
    )

    assert page.status_code == 403
    assert api.status_code == 403
    assert api.json()["code"] == "report_not_allowed"
    assert not Export.objects.exists()


@pytest.mark.parametrize("role", [Role.HELPDESK, Role.VERIFIER, Role.CHECKER])
def test_staff_without_the_export_permission_are_refused(role, sign_in, storage):
    client = sign_in(staff_user(role))

    assert client.get(reverse("dashboards:reports")).status_code == 403
    response = client.post(
        reverse(EXPORTS_API), {"report": "claims"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message"}


# -- the API ------------------------------------------------------------------------------------


def test_the_api_starts_an_export_and_reports_its_progress(
    campaigns, sign_in, django_capture_on_commit_callbacks
):
    manager = client_manager_of(campaigns.client_a)
    client = sign_in(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse(EXPORTS_API),
            {"report": "claims", "format": "xlsx", "scheme": campaigns.campaign_1.pk,
             "date_from": "2020-01-01"},
            content_type="application/json",
        )  # fmt: skip

    assert response.status_code == 201
    body = response.json()
    export = Export.objects.get()
    assert response["Location"] == reverse("dashboards-api:export", args=[export.pk])
    assert len(callbacks) == 1
    assert body["id"] == export.pk
    assert (body["report"], body["format"], body["status"], body["progress_percent"]) == (
        "claims",
        "xlsx",
        "queued",
        0,
    )
    assert body["filters"] == {"scheme": campaigns.campaign_1.pk, "date_from": "2020-01-01"}
    assert body["download_url"] is None

    export_run(export_id=export.pk)
    detail = client.get(reverse("dashboards-api:export", args=[export.pk])).json()
    assert (detail["status"], detail["rows_total"], detail["rows_written"]) == ("done", 4, 4)
    assert detail["progress_percent"] == 100
    assert detail["download_url"] == "http://testserver" + reverse(
        "dashboards:export-download", args=[export.pk]
    )
    assert [item["id"] for item in client.get(reverse(EXPORTS_API)).json()] == [export.pk]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"report": "claims", "scheme": "campaign_b"}, "scheme"),
        ({"report": "claims", "channel_partner": "partner_b"}, "channel_partner"),
        ({"report": "claims", "date_from": "yesterday"}, "date_from"),
        ({"report": "claims", "status": "lost"}, "status"),
        ({"report": "nothing"}, "report"),
        ({"report": "claims", "format": "pdf"}, "format"),
        ({}, "report"),
    ],
)
def test_the_api_refuses_bad_filters_with_400(campaigns, sign_in, payload, field):
    manager = client_manager_of(campaigns.client_a)
    client = sign_in(manager)
    if payload.get("scheme") == "campaign_b":
        payload["scheme"] = campaigns.campaign_b.pk
    if payload.get("channel_partner") == "partner_b":
        payload["channel_partner"] = campaigns.partner_b.pk

    response = client.post(reverse(EXPORTS_API), payload, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_filters"
    assert body["message"] == "The report or its filters are not valid."
    assert list(body["errors"]) == [field]
    assert not Export.objects.exists()


def test_the_openapi_schema_lists_the_export_endpoints(client, storage):
    schema = client.get(reverse("schema"), {"format": "json"}).json()

    exports_path = schema["paths"]["/api/v1/dashboards/exports/"]
    assert set(exports_path) == {"get", "post"}
    assert set(exports_path["post"]["responses"]) == {"201", "400", "403"}
    detail = schema["paths"]["/api/v1/dashboards/exports/{export_id}/"]
    assert set(detail["get"]["responses"]) == {"200", "403", "404"}
    assert detail["get"]["tags"] == ["dashboards"]


def test_the_progress_is_written_as_rows_go(manager, storage, django_capture_on_commit_callbacks):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, capture=django_capture_on_commit_callbacks
    )
    seen = []
    real_progress = exports._progress

    def watching(export_id, rows):
        for row in real_progress(export_id, rows):
            seen.append(Export.objects.get(pk=export_id).rows_written)
            yield row

    with (
        mock.patch.object(exports, "PROGRESS_EVERY_ROWS", 2),
        mock.patch.object(exports, "_progress", watching),
    ):
        export_run(export_id=export.pk)

    # what the row said while each of the four rows was written
    assert seen == [0, 0, 2, 2]
    assert Export.objects.get(pk=export.pk).rows_written == 4


def test_expired_files_are_purged_and_the_rows_kept(
    manager, storage, django_capture_on_commit_callbacks
):
    kept = done_export(manager, Export.Report.PARTICIPANTS, django_capture_on_commit_callbacks)
    expired = done_export(manager, Export.Report.PARTICIPANTS, django_capture_on_commit_callbacks)
    Export.objects.filter(pk=expired.pk).update(expires_at=kept.expires_at - timedelta(days=1))

    assert exports.exports_purge_expired(now=kept.expires_at - timedelta(hours=1)) == 1

    assert default_storage.exists(kept.storage_name)
    assert not default_storage.exists(expired.storage_name)
    expired.refresh_from_db()
    assert (expired.status, expired.size_bytes, expired.rows_written) == ("done", None, 4)
    assert exports.exports_purge_expired(now=kept.expires_at - timedelta(hours=1)) == 0


def test_the_purge_is_scheduled_daily():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="dashboards: purge expired exports")
    assert (task.task, task.queue, task.crontab.hour, task.crontab.minute) == (
        "dashboards.tasks.exports_purge_expired",
        "default",
        "3",
        "40",
    )


def test_more_rows_than_a_sheet_holds_fail_with_advice(
    manager, storage, django_capture_on_commit_callbacks
):
    export = request_export(
        manager, Export.Report.PARTICIPANTS, "xlsx", capture=django_capture_on_commit_callbacks
    )

    with mock.patch.object(exports, "XLSX_MAX_ROWS", 3):
        assert export_run(export_id=export.pk) == "failed"

    export.refresh_from_db()
    assert export.error == "4 rows do not fit in one Excel sheet; export them as CSV."
    assert not default_storage.exists(export.storage_name)
