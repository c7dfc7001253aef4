"""One DRF view doing one primary-key SELECT: the baseline the API endpoints are held to."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards.models import Account


class BaselineAccountView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, pk: int) -> Response:
        row = Account.objects.values("id", "balance_minor").get(pk=pk)
        return Response(row)


urlpatterns = [path("baseline/<int:pk>/", BaselineAccountView.as_view())]
