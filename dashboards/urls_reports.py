"""The reports page and the export downloads, under /dashboards/reports/ (included by
dashboards.urls, so the names are in the ``dashboards`` namespace)."""

from django.urls import path

from dashboards import views_reports

urlpatterns = [
    path("", views_reports.reports, name="reports"),
    path("exports/", views_reports.exports_fragment, name="reports-exports"),
    path(
        "exports/<int:export_id>/download/",
        views_reports.export_download,
        name="export-download",
    ),
]
