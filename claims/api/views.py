"""The claims API (/api/v1/claims/...): the portal's flow for programs, such as a mobile
app. Each view authenticates, validates the input with the portal's own rules, applies the
portal's rate limits (the same counters), calls one service or access-checked selector, and
answers JSON. Every error is ``{"code", "message"}`` with a 4xx status (503 only for a
service that is down for a moment: sending a code, the virus scanner); another customer's
claim or document is a 404, exactly like one that does not exist. docs/PORTAL.md
describes the API.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import FileResponse, Http404
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.api.authentication import (
    CustomerTokenAuthentication,
    IsPortalCustomer,
    access_token_issue,
    sign_in_token_device,
    sign_in_token_issue,
    token_lifetime_seconds,
)
from claims.api.serializers import (
    AccessTokenSerializer,
    ClaimDetailSerializer,
    ClaimDetailsSerializer,
    ClaimsErrorSerializer,
    ClaimSummarySerializer,
    CodeEntryResultSerializer,
    CodeEntrySerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    DrawWinSerializer,
    SignInRequestSerializer,
    SignInStartedSerializer,
    SignInVerifySerializer,
)
from claims.documents import DocumentRefusedError, document_response
from claims.forms import ClaimDetailsForm
from claims.models import Claim, ClaimStatus, mask_destination, requirements_for_scheme
from claims.ratelimits import (
    CODE_ENTRY,
    DOCUMENT_UPLOAD,
    sign_in_send_over_limit,
    sign_in_verify_over_limit,
)
from claims.selectors import (
    claim_document_get_for_customer,
    claim_get_for_customer,
    claims_for_customer,
    draw_wins_to_claim,
)
from claims.sending import SendingUnavailableError
from claims.services import (
    ClaimTransitionError,
    CodeOutcome,
    VerifyOutcome,
    claim_details_update,
    claim_document_add,
    claim_resubmit,
    claim_start_from_code,
    claim_start_from_draw_result,
    claim_submit,
    sign_in_code_issue,
    sign_in_code_verify,
)
from claims.services.claiming import DETAIL_FIELDS
from claims.services.customers import customer_language_set
from claims.wording import code_refusal_message, verify_error_message
from config.api_errors import api_exception_handler as project_exception_handler
from crm.models import Customer


class ApiError(exceptions.APIException):
    """An answer other than success, with its own code and a message for the customer."""

    def __init__(self, code: str, message: str, status_code: int, **extra: Any) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra


# ClaimTransitionError codes (claims.services) -> HTTP status.
TRANSITION_STATUS = {
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "unknown": status.HTTP_404_NOT_FOUND,
    "invalid": status.HTTP_400_BAD_REQUEST,
    "incomplete": status.HTTP_422_UNPROCESSABLE_ENTITY,
}
# DocumentRefusedError codes (claims.documents) -> HTTP status; any other refusal is 422.
DOCUMENT_STATUS = {
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "scan_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


def claims_api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as JSON ``{"code", "message"}``."""
    body: dict[str, Any]
    if isinstance(exc, ApiError):
        body = {"code": exc.error_code, "message": str(exc.detail), **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DocumentRefusedError):
        code = exc.code or "refused"
        body = {"code": code, "message": exc.messages[0]}
        return Response(body, status=DOCUMENT_STATUS.get(code, 422))
    if isinstance(exc, ClaimTransitionError):
        body = {"code": exc.code, "message": exc.message}
        return Response(body, status=TRANSITION_STATUS.get(exc.code, status.HTTP_409_CONFLICT))
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound(_("There is no such claim or document."))
    return project_exception_handler(exc, context)


ERRORS = {
    400: OpenApiResponse(ClaimsErrorSerializer, description="Invalid request (code=invalid)."),
    401: OpenApiResponse(ClaimsErrorSerializer, description="No or expired access token."),
    403: OpenApiResponse(ClaimsErrorSerializer, description="Not signed in as a customer."),
}
NOT_FOUND = {
    404: OpenApiResponse(
        ClaimsErrorSerializer, description="No such claim, or another customer's."
    ),
}
RATE_LIMITED = {
    429: OpenApiResponse(ClaimsErrorSerializer, description="Rate limited (code=rate_limited)."),
}


class ClaimsApiView(APIView):
    """A signed-in customer's request: a portal session or a bearer token."""

    authentication_classes = (CustomerTokenAuthentication, SessionAuthentication)
    permission_classes = (IsPortalCustomer,)

    def get_exception_handler(self) -> Any:
        return claims_api_exception_handler

    def customer(self, request: Request) -> Customer:
        customer: Customer = request.customer  # type: ignore[attr-defined]
        return customer

    def claim(self, request: Request, number: str) -> Claim:
        claim = claim_get_for_customer(customer=self.customer(request), number=number)
        if claim is None:
            raise Http404
        return claim

    def detail(self, claim: Claim, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = claim_get_for_customer(customer=claim.customer, number=claim.number)
        return Response(ClaimDetailSerializer(fresh).data, status=status_code)


def _rate_limited(message: str) -> ApiError:
    return ApiError("rate_limited", message, status.HTTP_429_TOO_MANY_REQUESTS)


# -- sign-in ----------------------------------------------------------------------------------


class SignInView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_exception_handler(self) -> Any:
        return claims_api_exception_handler

    @extend_schema(
        request=SignInRequestSerializer,
        responses={
            202: SignInStartedSerializer,
            400: ERRORS[400],
            **RATE_LIMITED,
            503: OpenApiResponse(
                ClaimsErrorSerializer,
                description="The code cannot be sent just now (sending_failed); try again soon.",
            ),
        },
        summary="Send a one-time code to a phone number or email address",
        description="The answer is the same whether or not a customer has this phone number "
        "or email address. Limited per address and per client IP, together with the portal.",
        tags=["claims: sign-in"],
    )
    def post(self, request: Request) -> Response:
        serializer = SignInRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel, destination = serializer.validated_data["contact"]
        if sign_in_send_over_limit(request, channel=channel, destination=destination):
            raise _rate_limited(
                _("Too many codes have been asked for. Wait an hour and try again.")
            )
        try:
            device = sign_in_code_issue(
                channel=channel, destination=destination, language=translation.get_language()
            )
        except SendingUnavailableError:  # logged where it was found; the same for every address
            raise ApiError(
                "sending_failed",
                _("We could not send the code just now. Try again in a few minutes."),
                status.HTTP_503_SERVICE_UNAVAILABLE,
            ) from None
        body = {
            "sign_in_token": sign_in_token_issue(device),
            "channel": channel,
            "destination": mask_destination(channel, destination),
            "expires_in": settings.CLAIM_OTP_VALIDITY_SECONDS,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SignInVerifyView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_exception_handler(self) -> Any:
        return claims_api_exception_handler

    @extend_schema(
        request=SignInVerifySerializer,
        responses={
            200: AccessTokenSerializer,
            400: OpenApiResponse(
                ClaimsErrorSerializer,
                description="invalid, sign_in_expired, wrong_code (with tries_left), "
                "too_many_failures (the code is dead after five wrong tries), code_expired.",
            ),
            403: OpenApiResponse(ClaimsErrorSerializer, description="account_closed."),
            429: OpenApiResponse(
                ClaimsErrorSerializer, description="rate_limited, or wait (retry in a few seconds)."
            ),
        },
        summary="Check the code and get an access token",
        tags=["claims: sign-in"],
    )
    def post(self, request: Request) -> Response:
        serializer = SignInVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = sign_in_token_device(serializer.validated_data["sign_in_token"])
        if device is None:
            raise ApiError(
                "sign_in_expired",
                _("Your sign-in has timed out. Please start again."),
                status.HTTP_400_BAD_REQUEST,
            )
        if sign_in_verify_over_limit(
            request, channel=device.channel, destination=device.destination
        ):
            raise _rate_limited(_("Too many tries. Wait an hour and try again."))
        result = sign_in_code_verify(
            device_id=device.pk,
            code=serializer.validated_data["code"],
            language=translation.get_language(),
        )
        if result.outcome != VerifyOutcome.SIGNED_IN or result.account is None:
            raise _verify_refusal(result.outcome, result.tries_left)
        body = {
            "access_token": access_token_issue(user=result.account.user, device=result.device),
            "token_type": "Bearer",
            "expires_in": token_lifetime_seconds(),
            "customer": CustomerSerializer(result.account.customer).data,
        }
        return Response(body)


_VERIFY_REFUSALS = {
    VerifyOutcome.WRONG_CODE: ("wrong_code", status.HTTP_400_BAD_REQUEST),
    VerifyOutcome.TOO_MANY_FAILURES: ("too_many_failures", status.HTTP_400_BAD_REQUEST),
    VerifyOutcome.NO_LIVE_CODE: ("code_expired", status.HTTP_400_BAD_REQUEST),
    VerifyOutcome.WAIT: ("wait", status.HTTP_429_TOO_MANY_REQUESTS),
    VerifyOutcome.ACCOUNT_CLOSED: ("account_closed", status.HTTP_403_FORBIDDEN),
}


def _verify_refusal(outcome: VerifyOutcome, tries_left: int) -> ApiError:
    code, status_code = _VERIFY_REFUSALS.get(outcome, ("code_expired", 400))
    extra = {"tries_left": tries_left} if outcome == VerifyOutcome.WRONG_CODE else {}
    return ApiError(code, verify_error_message(outcome, tries_left), status_code, **extra)


# -- the customer --------------------------------------------------------------------------


class MeView(ClaimsApiView):
    @extend_schema(
        responses={200: CustomerSerializer, **ERRORS},
        summary="The signed-in customer",
        tags=["claims: customer"],
    )
    def get(self, request: Request) -> Response:
        return Response(CustomerSerializer(self.customer(request)).data)

    @extend_schema(
        request=CustomerUpdateSerializer,
        responses={200: CustomerSerializer, **ERRORS},
        summary="Change the customer's preferred language",
        tags=["claims: customer"],
    )
    def patch(self, request: Request) -> Response:
        serializer = CustomerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = customer_language_set(
            customer=self.customer(request),
            language=serializer.validated_data["preferred_language"],
            actor=request.user,
        )
        return Response(CustomerSerializer(customer).data)


# -- codes and draw wins -------------------------------------------------------------------


# Outcomes that are an answer, not a refusal: the code did what it could.
_CODE_ANSWERS = {
    CodeOutcome.CLAIM_STARTED: status.HTTP_201_CREATED,
    CodeOutcome.CLAIM_RESUMED: status.HTTP_200_OK,
    CodeOutcome.DRAW_ENTERED: status.HTTP_200_OK,
    CodeOutcome.ALREADY_IN_DRAW: status.HTTP_200_OK,
}


class CodeEntryView(ClaimsApiView):
    @extend_schema(
        request=CodeEntrySerializer,
        responses={
            201: OpenApiResponse(CodeEntryResultSerializer, description="A draft claim opened."),
            200: OpenApiResponse(
                CodeEntryResultSerializer,
                description="The customer's own claim resumed, or the code entered in a draw.",
            ),
            **ERRORS,
            422: OpenApiResponse(
                ClaimsErrorSerializer,
                description="The code opened no claim; code is one of invalid_format, unknown, "
                "void, already_claimed, not_started, campaign_ended, deadline_passed, "
                "not_winning, no_open_draw, out_of_stock.",
            ),
            **RATE_LIMITED,
        },
        summary="Enter a code",
        tags=["claims"],
    )
    def post(self, request: Request) -> Response:
        serializer = CodeEntrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = self.customer(request)
        if CODE_ENTRY.is_over(request, customer=customer):
            raise _rate_limited(_("Too many codes have been entered. Wait an hour and try again."))
        entry = claim_start_from_code(
            customer=customer, actor=request.user, text=serializer.validated_data["code"]
        )
        if entry.outcome not in _CODE_ANSWERS:
            raise ApiError(
                str(entry.outcome),
                code_refusal_message(entry.outcome),
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if entry.outcome == CodeOutcome.CLAIM_STARTED:
            message = _("Congratulations! You have won %(prize)s.") % {"prize": entry.prize_name}
        elif entry.outcome == CodeOutcome.CLAIM_RESUMED:
            message = _("You have already entered this code. Here is your claim.")
        else:
            message = code_refusal_message(entry.outcome)
        body = {
            "outcome": str(entry.outcome),
            "message": message,
            "claim": ClaimSummarySerializer(entry.claim).data if entry.claim else None,
        }
        return Response(body, status=_CODE_ANSWERS[entry.outcome])


class DrawWinListView(ClaimsApiView):
    @extend_schema(
        responses={200: DrawWinSerializer(many=True), **ERRORS},
        summary="Draw wins waiting to be claimed",
        tags=["claims"],
    )
    def get(self, request: Request) -> Response:
        wins = draw_wins_to_claim(customer=self.customer(request))
        return Response(DrawWinSerializer(wins, many=True).data)


class DrawWinClaimView(ClaimsApiView):
    @extend_schema(
        request=None,
        responses={
            201: ClaimDetailSerializer,
            **ERRORS,
            404: OpenApiResponse(ClaimsErrorSerializer, description="No such draw win of yours."),
            409: OpenApiResponse(
                ClaimsErrorSerializer, description="The time to claim it has ended."
            ),
        },
        summary="Open (or resume) the claim for a draw win",
        tags=["claims"],
    )
    def post(self, request: Request, result_id: int) -> Response:
        claim = claim_start_from_draw_result(
            customer=self.customer(request), actor=request.user, result_id=result_id
        )
        return self.detail(claim, status_code=status.HTTP_201_CREATED)


# -- claims -----------------------------------------------------------------------------


class ClaimListView(ClaimsApiView, ListAPIView):
    serializer_class = ClaimSummarySerializer

    def get_queryset(self) -> Any:
        return claims_for_customer(customer=self.customer(self.request))

    @extend_schema(
        summary="My claims, newest first",
        responses={200: ClaimSummarySerializer(many=True), **ERRORS},
        tags=["claims"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ClaimDetailView(ClaimsApiView):
    @extend_schema(
        responses={200: ClaimDetailSerializer, **ERRORS, **NOT_FOUND},
        summary="A claim with its timeline, documents and what it still needs",
        tags=["claims"],
    )
    def get(self, request: Request, number: str) -> Response:
        return self.detail(self.claim(request, number))

    @extend_schema(
        request=ClaimDetailsSerializer,
        responses={
            200: ClaimDetailSerializer,
            **ERRORS,
            **NOT_FOUND,
            409: OpenApiResponse(ClaimsErrorSerializer, description="Not a draft any more."),
        },
        summary="Fill in or change the claim form of a draft",
        tags=["claims"],
    )
    def patch(self, request: Request, number: str) -> Response:
        claim = self.claim(request, number)
        serializer = ClaimDetailsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if claim.status != ClaimStatus.DRAFT or claim.is_past_deadline:
            raise ClaimTransitionError(
                _("This claim has been sent, so its details can no longer be changed.")
                if claim.status != ClaimStatus.DRAFT
                else _("The deadline for this claim has passed."),
                code="wrong_status",
            )
        # The portal's form judges the whole claim form, with the change applied.
        data = {name: getattr(claim, name) for name in DETAIL_FIELDS}
        data.update(serializer.validated_data)
        form = ClaimDetailsForm(data, requirements=requirements_for_scheme(claim.scheme_id))
        if not form.is_valid():
            raise exceptions.ValidationError(
                {
                    field: [str(message) for message in messages]
                    for field, messages in form.errors.items()
                }
            )
        claim = claim_details_update(
            claim=claim,
            actor=request.user,
            details={name: form.cleaned_data[name] for name in form.fields},
        )
        return self.detail(claim)


class DocumentUploadView(ClaimsApiView):
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={
            201: DocumentSerializer,
            **ERRORS,
            **NOT_FOUND,
            409: OpenApiResponse(
                ClaimsErrorSerializer, description="The claim takes no document of this kind now."
            ),
            413: OpenApiResponse(ClaimsErrorSerializer, description="The file is too large."),
            422: OpenApiResponse(
                ClaimsErrorSerializer,
                description="The file is refused: unsupported_type, markup, damaged_image, "
                "too_many_pixels, damaged_pdf, pdf_password, pdf_pages, empty, malware.",
            ),
            **RATE_LIMITED,
            503: OpenApiResponse(
                ClaimsErrorSerializer,
                description="The virus scanner did not answer; try again soon.",
            ),
        },
        summary="Upload a document (multipart: kind, file)",
        description="The same checks as the portal: type from the content, size, pixel "
        "limit, PDF parsing, virus scan; images are re-encoded. A new upload replaces the "
        "claim's earlier document of its kind.",
        tags=["claims"],
    )
    def post(self, request: Request, number: str) -> Response:
        claim = self.claim(request, number)
        if DOCUMENT_UPLOAD.is_over(request, customer=self.customer(request)):
            raise _rate_limited(_("Too many uploads. Wait an hour and try again."))
        serializer = DocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = claim_document_add(
            claim=claim,
            actor=request.user,
            kind=serializer.validated_data["kind"],
            upload=serializer.validated_data["file"],
        )
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDownloadView(ClaimsApiView):
    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            ),
            **ERRORS,
            **NOT_FOUND,
        },
        summary="Download one of the claim's documents",
        tags=["claims"],
    )
    def get(self, request: Request, number: str, document_id: int) -> FileResponse:
        document = claim_document_get_for_customer(
            customer=self.customer(request), number=number, document_id=document_id
        )
        if document is None:
            raise Http404
        return document_response(
            storage_name=document.storage_name,
            content_type=document.content_type,
            download_name=document.download_name,
        )


class ClaimSubmitView(ClaimsApiView):
    @extend_schema(
        request=None,
        responses={
            200: ClaimDetailSerializer,
            **ERRORS,
            **NOT_FOUND,
            409: OpenApiResponse(
                ClaimsErrorSerializer,
                description="wrong_status, or deadline_passed.",
            ),
            422: OpenApiResponse(
                ClaimsErrorSerializer, description="incomplete: the message says what is missing."
            ),
        },
        summary="Send the claim (a draft), or the documents asked for again",
        tags=["claims"],
    )
    def post(self, request: Request, number: str) -> Response:
        claim = self.claim(request, number)
        if claim.status == ClaimStatus.RESUBMISSION_REQUESTED:
            claim = claim_resubmit(claim=claim, actor=request.user)
        else:
            claim = claim_submit(claim=claim, actor=request.user)
        return self.detail(claim)
