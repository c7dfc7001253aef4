from django.urls import path

from verification import api

app_name = "verification-api"

urlpatterns = [
    path("queue/", api.QueueView.as_view(), name="queue"),
    path("claims/<int:claim_id>/take/", api.TakeView.as_view(), name="take"),
    path("claims/<int:claim_id>/propose/", api.ProposeView.as_view(), name="propose"),
    path("claims/<int:claim_id>/decide/", api.DecideView.as_view(), name="decide"),
    path("metrics/", api.MetricsView.as_view(), name="metrics"),
]
