"""The verification API (/api/v1/verification/...): the queue, taking a claim, proposing and
deciding, and the queue metrics, for signed-in staff sessions (with the second factor when
STAFF_OTP_REQUIRED). The same services as the pages, so every rule holds here too."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.models import ClaimDocument, ProposedOutcome
from rewards.api.serializers import ErrorSerializer
from verification import selectors, services
from verification.errors import VerificationError, VerificationPermissionError
from verification.models import CheckerDecision, RejectionReason


class _Signed(BasePermission):
    allowed: Any = staticmethod(selectors.may_review)

    def has_permission(self, request: Request, view: Any) -> bool:
        user: Any = request.user
        if not user.is_authenticated:
            return False
        if settings.STAFF_OTP_REQUIRED and not user.is_verified():
            return False
        return bool(self.allowed(user))


class MayReview(_Signed):
    message = "The review queue is open to verifiers and checkers only."


class MayViewMetrics(_Signed):
    message = "The queue metrics are not open to this user."
    allowed = staticmethod(selectors.may_view_metrics)


class QueueClaimSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.CharField()
    campaign = serializers.CharField(source="scheme.name")
    prize = serializers.CharField(source="prize.name")
    prize_kind = serializers.CharField(source="prize.kind")
    queued_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    sla_hours = serializers.IntegerField()
    locked_by = serializers.CharField(source="lock_holder", allow_null=True)
    lock_expires_at = serializers.DateTimeField(allow_null=True)


class LockSerializer(serializers.Serializer):
    claim = serializers.CharField(source="claim.number")
    holder = serializers.CharField(source="holder.username")
    expires_at = serializers.DateTimeField()


class ProposeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ProposedOutcome.choices)
    rejection_reason = serializers.SlugRelatedField(
        slug_field="code",
        queryset=RejectionReason.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    requested_document_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ClaimDocument.Kind.choices),
        required=False,
        default=list,
    )
    checklist = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        default=dict,
        help_text="Checklist item id -> passed.",
    )


class ProposalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    claim = serializers.CharField(source="claim.number")
    maker = serializers.CharField(source="maker.username")
    outcome = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.CharField()
    fingerprint = serializers.CharField()
    signals = serializers.ListField(child=serializers.DictField())


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=CheckerDecision.Decision.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    acknowledge_signals = serializers.BooleanField(required=False, default=False)


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    claim = serializers.CharField(source="claim.number")
    claim_status = serializers.CharField(source="claim.status")
    maker = serializers.CharField(source="maker.username")
    checker = serializers.CharField(source="checker.username")
    decision = serializers.CharField()
    result = serializers.CharField()


def _refusal(error: VerificationError) -> Response:
    code = (
        status.HTTP_403_FORBIDDEN
        if isinstance(error, VerificationPermissionError)
        else status.HTTP_409_CONFLICT
    )
    return Response({"code": error.code, "message": str(error)}, status=code)


def _claim(request: Request, claim_id: int) -> Any:
    return selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)


_NOT_FOUND = Response({"code": "not_found", "message": "No such claim."}, status=404)
_NOT_ALLOWED = {
    403: OpenApiResponse(ErrorSerializer, description="Not signed in as staff allowed this."),
}
_REFUSALS = {
    403: OpenApiResponse(ErrorSerializer, description="Not allowed (e.g. the maker deciding)."),
    404: OpenApiResponse(ErrorSerializer, description="No such claim."),
    409: OpenApiResponse(ErrorSerializer, description="Refused in the claim's current state."),
}


class QueueView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayReview,)

    @extend_schema(
        tags=["verification"],
        summary="Claims waiting for review or a checker, oldest first",
        parameters=[
            OpenApiParameter("campaign", int),
            OpenApiParameter("channel_partner", int),
            OpenApiParameter("status", str),
            OpenApiParameter("prize", int),
            OpenApiParameter(
                "age", str, description="under_24h, 24_48h, 48_72h, over_72h, over_sla"
            ),
        ],
        responses={200: QueueClaimSerializer(many=True), **_NOT_ALLOWED},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params

        def number(name: str) -> int | None:
            value = params.get(name, "")
            return int(value) if value.isdigit() else None

        filters = selectors.QueueFilters(
            scheme_id=number("campaign"),
            channel_partner_id=number("channel_partner"),
            status=params.get("status", ""),
            prize_id=number("prize"),
            age=params.get("age", ""),
        )
        rows = selectors.queue_for_user(user=request.user, filters=filters).select_related(
            "scheme", "prize"
        )[:200]
        return Response(QueueClaimSerializer(rows, many=True).data)


class TakeView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayReview,)

    @extend_schema(
        tags=["verification"],
        summary="Take a claim for review (a lock with expiry)",
        request=None,
        responses={200: LockSerializer, **_REFUSALS},
    )
    def post(self, request: Request, claim_id: int) -> Response:
        claim = _claim(request, claim_id)
        if claim is None:
            return _NOT_FOUND
        try:
            lock = services.review_lock_take(claim=claim, actor=request.user)
        except VerificationError as error:
            return _refusal(error)
        return Response(LockSerializer(lock).data)


class ProposeView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayReview,)

    @extend_schema(
        tags=["verification"],
        summary="The maker's proposal: approve, reject or ask for documents again",
        request=ProposeSerializer,
        responses={
            201: ProposalSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid; see errors."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, claim_id: int) -> Response:
        claim = _claim(request, claim_id)
        if claim is None:
            return _NOT_FOUND
        serializer = ProposeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checklist = {}
        for key, value in data["checklist"].items():
            if not str(key).isdigit():
                return Response(
                    {"code": "invalid", "message": "Checklist keys are item ids."}, status=400
                )
            checklist[int(key)] = value
        try:
            proposal = services.proposal_make(
                claim=claim,
                actor=request.user,
                outcome=data["outcome"],
                rejection_reason=data.get("rejection_reason"),
                reason=data["reason"],
                note=data["note"],
                requested_document_kinds=data["requested_document_kinds"],
                checklist=checklist,
            )
        except VerificationError as error:
            return _refusal(error)
        return Response(ProposalSerializer(proposal).data, status=status.HTTP_201_CREATED)


class DecideView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayReview,)

    @extend_schema(
        tags=["verification"],
        summary="The checker's decision: confirm the proposal or send it back",
        request=DecideSerializer,
        responses={
            200: DecisionSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid; see errors."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, claim_id: int) -> Response:
        claim = _claim(request, claim_id)
        if claim is None:
            return _NOT_FOUND
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            row = services.proposal_decide(
                claim=claim, actor=request.user, path="api", **serializer.validated_data
            )
        except VerificationError as error:
            return _refusal(error)
        row.claim.refresh_from_db()
        return Response(DecisionSerializer(row).data)


class MetricsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    waiting_by_age = serializers.ListField(child=serializers.DictField())
    decisions_per_day = serializers.ListField(child=serializers.DictField())
    first_pass_approval = serializers.DictField()
    send_back = serializers.DictField()
    time_to_decision = serializers.DictField()


class MetricsView(APIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (MayViewMetrics,)

    @extend_schema(
        tags=["verification"],
        summary="Queue metrics: waiting by age, decisions per verifier per day, rates, median time",
        parameters=[OpenApiParameter("campaign", int, description="One campaign's id.")],
        responses={200: MetricsSerializer, **_NOT_ALLOWED},
    )
    def get(self, request: Request) -> Response:
        campaign = request.query_params.get("campaign", "")
        scheme_ids = [int(campaign)] if campaign.isdigit() else None
        return Response(MetricsSerializer(selectors.queue_metrics(scheme_ids=scheme_ids)).data)
