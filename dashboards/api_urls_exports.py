"""/api/v1/dashboards/exports/ (included by dashboards.api_urls, in its namespace)."""

from django.urls import path

from dashboards import api_exports

urlpatterns = [
    path("", api_exports.ExportListView.as_view(), name="exports"),
    path("<int:export_id>/", api_exports.ExportDetailView.as_view(), name="export"),
]
