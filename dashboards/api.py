"""The dashboards' JSON API (/api/v1/dashboards/...): every number of the loyalty operator
board, for signed-in staff sessions, under the same scope as the pages."""

from typing import Any, ClassVar

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.campaigns import campaign_dashboard
from dashboards.forms import (
    BoardFilterForm,
    CampaignFilterForm,
    with_default_dates,
    with_default_months,
)
from dashboards.scoping import NoDashboardAccess, Scope, scope_for_user
from dashboards.selectors import loyalty_board
from dashboards.serializers import (
    CampaignBacklogSerializer,
    CampaignBudgetSerializer,
    CampaignDashboardSerializer,
    CampaignDaysSerializer,
    CampaignFunnelSerializer,
    CampaignPartnersSerializer,
    CampaignPrizesSerializer,
    CampaignRegionsSerializer,
    CampaignRejectionReasonsSerializer,
    FilterErrorSerializer,
    LoyaltyBoardSerializer,
    MonthsSerializer,
    SchemesSerializer,
    SignUpUnitsSerializer,
    TerminationsSerializer,
    TopOffersSerializer,
)
from rewards.api.serializers import ErrorSerializer


class MayViewDashboards(BasePermission):
    """Signed in (with the second factor when STAFF_OTP_REQUIRED) and given a scope by
    dashboards.scoping; the scope is left on the request. Subclasses narrow it in
    ``require``, raising NoDashboardAccess."""

    message = "The dashboards are not open to this user."

    def has_permission(self, request: Request, view: Any) -> bool:
        user: Any = request.user
        if not user.is_authenticated:
            return False
        if settings.STAFF_OTP_REQUIRED and not user.is_verified():
            return False
        try:
            scope = scope_for_user(user)
            self.require(user, scope)
        except NoDashboardAccess:
            return False
        request.scope = scope  # type: ignore[attr-defined]
        return True

    def require(self, user: Any, scope: Scope) -> None:
        """Raises NoDashboardAccess when ``user`` with ``scope`` may not use the view."""


class MayViewLoyaltyBoard(MayViewDashboards):
    """As MayViewDashboards, and allowed the loyalty board by dashboards.scoping."""

    message = "The loyalty operator board is not open to this user."

    def require(self, user: Any, scope: Scope) -> None:
        scope.require_loyalty_board()


FILTER_PARAMETERS = [
    OpenApiParameter(
        "scheme",
        int,
        description="A loyalty scheme's id; every loyalty scheme in your scope when left out. "
        "A scheme outside your scope is refused (400) like one that does not exist.",
    ),
    OpenApiParameter(
        "month_from",
        str,
        description="First month, YYYY-MM (default: eleven months before this one).",
    ),
    OpenApiParameter("month_to", str, description="Last month, YYYY-MM (default: this month)."),
]


class LoyaltyBoardSectionView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayViewLoyaltyBoard,)
    serializer_class: ClassVar[type[serializers.Serializer]] = LoyaltyBoardSerializer

    def get(self, request: Request) -> Response:
        scope: Scope = request.scope  # type: ignore[attr-defined]
        form = BoardFilterForm(with_default_months(request.query_params), scope=scope)
        if not form.is_valid():
            return _filters_refused(form)
        board = loyalty_board(scope=scope, filters=form.filters())
        return Response(self.serializer_class(board).data)


def _filters_refused(form: Any) -> Response:
    """400 with the project's error shape ({code, message}) plus each field's messages."""
    errors = {
        field: [error["message"] for error in field_errors]
        for field, field_errors in form.errors.get_json_data().items()
    }
    message = "The filters are not valid."
    return Response(
        {"code": "invalid_filters", "message": message, "detail": message, "errors": errors},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _section(serializer: type[serializers.Serializer], summary: str) -> type[APIView]:
    @extend_schema(
        tags=["dashboards"],
        summary=summary,
        parameters=FILTER_PARAMETERS,
        responses={
            200: serializer,
            400: OpenApiResponse(FilterErrorSerializer, description="Filters not valid."),
            403: OpenApiResponse(
                ErrorSerializer, description="Not signed in as staff allowed the board."
            ),
        },
    )
    class View(LoyaltyBoardSectionView):
        serializer_class = serializer

        def get(self, request: Request) -> Response:
            return super().get(request)

    View.__name__ = View.__qualname__ = f"{serializer.__name__.removesuffix('Serializer')}View"
    return View


LoyaltyBoardView = _section(
    LoyaltyBoardSerializer, "Every figure of the loyalty operator board at once"
)
LoyaltyMonthsView = _section(
    MonthsSerializer,
    "Participants, sign-ups, terminations, awards, spends, expirations, awarded but not "
    "spent and liability per month",
)
LoyaltyTerminationsView = _section(TerminationsSerializer, "Terminations by reason per month")
LoyaltyTopOffersView = _section(TopOffersSerializer, "Top 5 offers of last month")
LoyaltySchemesView = _section(
    SchemesSerializer, "Participants, outstanding liability and awarded but not spent per scheme"
)
LoyaltySignUpUnitsView = _section(SignUpUnitsSerializer, "Participants per sign-up unit")


# -- the client campaign dashboard ----------------------------------------------------------


CAMPAIGN_PARAMETERS = [
    OpenApiParameter(
        "campaign_id",
        int,
        OpenApiParameter.PATH,
        description="An instant-win or lucky-draw campaign in your scope; any other id "
        "answers 404, like one that does not exist.",
    ),
    OpenApiParameter(
        "date_from", OpenApiTypes.DATE, description="First day (default: 29 days ago)."
    ),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Last day (default: today)."),
    OpenApiParameter(
        "prize", int, description="A prize of the campaign; a prize of another is refused (400)."
    ),
    OpenApiParameter(
        "channel_partner",
        int,
        description="A channel partner in your scope (400 otherwise); a channel partner user "
        "is locked to their own.",
    ),
    OpenApiParameter(
        "region",
        str,
        description="A Swedish county's ISO 3166-2:SE code (SE-AB ... SE-Z); anything else "
        "is refused (400).",
    ),
]


class CampaignSectionView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayViewDashboards,)
    serializer_class: ClassVar[type[serializers.Serializer]] = CampaignDashboardSerializer

    def get(self, request: Request, campaign_id: int) -> Response:
        scope: Scope = request.scope  # type: ignore[attr-defined]
        campaign = get_object_or_404(
            scope.campaigns().select_related("review_settings"), pk=campaign_id
        )
        form = CampaignFilterForm(
            with_default_dates(request.query_params), scope=scope, campaign=campaign
        )
        if not form.is_valid():
            return _filters_refused(form)
        board = campaign_dashboard(scope=scope, campaign=campaign, filters=form.campaign_filters())
        return Response(self.serializer_class(board).data)


def _campaign_section(serializer: type[serializers.Serializer], summary: str) -> type[APIView]:
    @extend_schema(
        tags=["dashboards"],
        summary=summary,
        parameters=CAMPAIGN_PARAMETERS,
        responses={
            200: serializer,
            400: OpenApiResponse(FilterErrorSerializer, description="Filters not valid."),
            403: OpenApiResponse(
                ErrorSerializer, description="Not signed in as staff allowed the dashboards."
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such campaign in your scope."),
        },
    )
    class View(CampaignSectionView):
        serializer_class = serializer

        def get(self, request: Request, campaign_id: int) -> Response:
            return super().get(request, campaign_id)

    View.__name__ = View.__qualname__ = f"{serializer.__name__.removesuffix('Serializer')}View"
    return View


CampaignDashboardView = _campaign_section(
    CampaignDashboardSerializer, "Every figure of a campaign's dashboard at once"
)
CampaignFunnelView = _campaign_section(
    CampaignFunnelSerializer, "Codes issued and entered, claims by status, conversion rates"
)
CampaignDaysView = _campaign_section(CampaignDaysSerializer, "Claims first submitted per day")
CampaignBacklogView = _campaign_section(
    CampaignBacklogSerializer, "Verification backlog by age and median time to decision"
)
CampaignRejectionReasonsView = _campaign_section(
    CampaignRejectionReasonsSerializer, "Rejected claims by reason"
)
CampaignPrizesView = _campaign_section(
    CampaignPrizesSerializer, "Prizes won and left against the stock"
)
CampaignPartnersView = _campaign_section(CampaignPartnersSerializer, "Claims by channel partner")
CampaignRegionsView = _campaign_section(CampaignRegionsSerializer, "Claims by county (region)")
CampaignBudgetView = _campaign_section(
    CampaignBudgetSerializer, "Prize budget spent and committed against the cap"
)
