"""The integrators' API views: authenticate by API key, validate the input, call one
service or selector, answer. Every error is JSON ``{"code", "message"}``."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import api_exception_handler as project_exception_handler
from rewards.api import fast_validation
from rewards.api.authentication import ApiKeyAuthentication, IsIntegrator
from rewards.api.serializers import (
    ErrorSerializer,
    EventCreateSerializer,
    EventResultSerializer,
    IdentifierLookupSerializer,
    OfferSerializer,
    ParticipantCreateSerializer,
    ParticipantSerializer,
    SpendCreateSerializer,
    SpendResultSerializer,
    TransactionSerializer,
    WalletSerializer,
)
from rewards.models import Merchant, Offer
from rewards.selectors import (
    offers_for_merchant,
    participant_get_by_identifier,
    participant_get_for_merchant,
    scheme_get_for_merchant,
    wallet_summary,
    wallet_transactions,
)
from rewards.services import errors
from rewards.services.events import EventInput, LineInput, event_submit
from rewards.services.participants import customer_find_or_create, participant_join
from rewards.services.spends import spend_create

ERROR_STATUS = {
    errors.InvalidRequest: status.HTTP_400_BAD_REQUEST,
    errors.InsufficientFunds: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.SpendNotAllowed: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.ParticipantNotEffective: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.IdempotencyConflict: status.HTTP_409_CONFLICT,
    errors.AlreadyParticipant: status.HTTP_409_CONFLICT,
    errors.IdentifierTaken: status.HTTP_409_CONFLICT,
    errors.InvalidTransition: status.HTTP_409_CONFLICT,
    errors.ReversalNotAllowed: status.HTTP_409_CONFLICT,
    errors.MakerCheckerViolation: status.HTTP_403_FORBIDDEN,
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The rewards service's refusals as ``{"code", "message"}``; the rest as every API's."""
    if isinstance(exc, errors.RewardsError):
        code = ERROR_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST)
        return Response({"code": exc.code, "message": exc.message}, status=code)
    return project_exception_handler(exc, context)


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Unknown API URLs answer JSON like every other API error."""
    return JsonResponse(
        {"code": "not_found", "message": "There is no such API URL."},
        status=status.HTTP_404_NOT_FOUND,
    )


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid request."),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid API key."),
    404: OpenApiResponse(ErrorSerializer, description="Not found, or not this merchant's."),
}
OTHER_MERCHANT = {
    403: OpenApiResponse(
        ErrorSerializer, description="The body names another merchant than the key's."
    ),
}
NOT_JSON = {415: OpenApiResponse(ErrorSerializer, description="The body is not JSON.")}


class IntegratorView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsIntegrator]
    # JSON only, both ways: integrators are machines, content negotiation over one renderer
    # is free, and a form-encoded body (which cannot carry the nested lines) is a 415.
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def merchant(self, request: Request, code: str | None = None) -> Merchant:
        """The API key's merchant; a merchant named in the request must be that one."""
        merchant: Merchant = request.auth.merchant  # type: ignore[union-attr]
        if code and code != merchant.code:
            raise exceptions.PermissionDenied("This API key acts for another merchant.")
        return merchant


class ParticipantCreateView(IntegratorView):
    @extend_schema(
        request=ParticipantCreateSerializer,
        responses={
            201: ParticipantSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="Already a participant, or an identifier is someone else's.",
            ),
            **ERRORS,
            **NOT_JSON,
        },
        summary="Sign a customer up to a scheme",
    )
    def post(self, request: Request) -> Response:
        serializer = ParticipantCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        merchant = self.merchant(request)
        scheme = scheme_get_for_merchant(merchant=merchant, code=data["scheme"])
        referred_by = None
        if data.get("referred_by"):
            referred_by = participant_get_for_merchant(
                merchant=merchant, participant_id=data["referred_by"]
            )
        actor = str(request.user)
        customer = customer_find_or_create(**data["customer"], actor=actor)
        participant = participant_join(
            scheme=scheme,
            customer=customer,
            actor=actor,
            sign_up_merchant=merchant,
            reference_code=data.get("reference_code", ""),
            referred_by=referred_by,
            time_zone=data.get("time_zone", ""),
            birth_date=data.get("birth_date"),
            segments=data.get("segments"),
            identifiers=[(row["kind"], row["value"]) for row in data.get("identifiers", [])],
        )
        return Response(ParticipantSerializer(participant).data, status=status.HTTP_201_CREATED)


class ParticipantLookupView(IntegratorView):
    @extend_schema(
        parameters=[IdentifierLookupSerializer],
        responses={200: ParticipantSerializer, **ERRORS},
        summary="Find the participant a card or app id names",
    )
    def get(self, request: Request) -> Response:
        serializer = IdentifierLookupSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        participant = participant_get_by_identifier(
            merchant=self.merchant(request),
            scheme_code=data["scheme"],
            kind=data["kind"],
            value=data["value"],
        )
        return Response(ParticipantSerializer(participant).data)


class ParticipantDetailView(IntegratorView):
    @extend_schema(responses={200: ParticipantSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        participant = participant_get_for_merchant(
            merchant=self.merchant(request), participant_id=pk
        )
        return Response(ParticipantSerializer(participant).data)


class WalletView(IntegratorView):
    @extend_schema(responses={200: WalletSerializer, **ERRORS}, summary="A participant's wallet")
    def get(self, request: Request, pk: int) -> Response:
        participant = participant_get_for_merchant(
            merchant=self.merchant(request), participant_id=pk
        )
        return Response(WalletSerializer(wallet_summary(participant=participant)).data)


class TransactionsView(IntegratorView, GenericAPIView):  # type: ignore[misc]
    serializer_class = TransactionSerializer

    @extend_schema(responses={200: TransactionSerializer(many=True), **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        participant = participant_get_for_merchant(
            merchant=self.merchant(request), participant_id=pk
        )
        page = self.paginate_queryset(wallet_transactions(participant=participant))
        return self.get_paginated_response(TransactionSerializer(page, many=True).data)


class EventCreateView(IntegratorView):
    @extend_schema(
        request=EventCreateSerializer,
        responses={
            201: OpenApiResponse(EventResultSerializer, description="Processed; the awards."),
            200: OpenApiResponse(EventResultSerializer, description="A replay: first answer."),
            202: OpenApiResponse(EventResultSerializer, description="Queued for evaluation."),
            409: OpenApiResponse(ErrorSerializer, description="Key reused with other content."),
            422: OpenApiResponse(ErrorSerializer, description="Participant terminated."),
            **ERRORS,
            **OTHER_MERCHANT,
            **NOT_JSON,
        },
        summary="Post a customer event (idempotent on source + external_id)",
    )
    def post(self, request: Request) -> Response:
        data = fast_validation.event_body(request.data)
        if data is None:
            serializer = EventCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        merchant = self.merchant(request, data.get("merchant"))
        event = EventInput(
            source=data["source"],
            external_id=data["external_id"],
            type=data["type"],
            participant_id=data["participant"],
            occurred_at=data["occurred_at"],
            merchant=merchant,
            lines=tuple(LineInput(**line) for line in data.get("lines", [])),
            total_minor=data.get("total_minor", 0),
            payment_medium=data.get("payment_medium"),
            area=data.get("area"),
            achievement_code=data.get("achievement_code"),
            original_external_id=data.get("original_external_id"),
        )
        queue = data["process"] == "queued" if "process" in data else None
        body, created = event_submit(event=event, queue=queue)
        code: int
        if not created:
            code = status.HTTP_200_OK
        elif body["status"] == "queued":
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_201_CREATED
        return Response(body, status=code)


class SpendCreateView(IntegratorView):
    @extend_schema(
        request=SpendCreateSerializer,
        responses={
            201: SpendResultSerializer,
            200: OpenApiResponse(SpendResultSerializer, description="A replay: first answer."),
            409: OpenApiResponse(ErrorSerializer, description="Key reused with other content."),
            422: OpenApiResponse(
                ErrorSerializer, description="insufficient_funds or spend_not_allowed."
            ),
            **ERRORS,
            **OTHER_MERCHANT,
            **NOT_JSON,
        },
        summary="Spend from a wallet (idempotent on idempotency_key)",
    )
    def post(self, request: Request) -> Response:
        data = fast_validation.spend_body(request.data)
        if data is None:
            serializer = SpendCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        body, created = spend_create(
            participant_id=data["participant"],
            amount_minor=data["amount_minor"],
            merchant=self.merchant(request, data.get("merchant")),
            idempotency_key=data["idempotency_key"],
            product_codes=data.get("products", ()),
        )
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OfferListView(IntegratorView, ListAPIView):  # type: ignore[misc]
    serializer_class = OfferSerializer

    @extend_schema(
        parameters=[OpenApiParameter("scheme", str, description="A scheme's code.")],
        responses={200: OfferSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Offer]:
        queryset = offers_for_merchant(merchant=self.merchant(self.request))
        scheme = self.request.query_params.get("scheme")
        return queryset.filter(scheme__code=scheme) if scheme else queryset
