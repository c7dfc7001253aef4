"""The customer portal's sign-in pages: sign-in by one-time code and sign-out.

Sign-in never tells whether a phone number or email address belongs to a customer: every
valid destination gets a code and the same pages; the customer is found (or created) only
once the code is right. Between the two steps only the device id waits in the session.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from claims.forms import CodeForm, SignInForm
from claims.language import chosen_language, language_activate_for_customer
from claims.models import CustomerOTPDevice, mask_destination
from claims.ratelimits import sign_in_send_over_limit, sign_in_verify_over_limit
from claims.selectors import portal_customer_for_user
from claims.sending import SendingUnavailableError
from claims.services import VerifyOutcome, sign_in_code_issue, sign_in_code_verify
from claims.wording import verify_error_message

PENDING_DEVICE = "portal_sign_in_device"
PENDING_SINCE = "portal_sign_in_since"
PENDING_NEXT = "portal_sign_in_next"
# The customer's ModelBackend-style session; customers have no password to authenticate with.
AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("portal:home")


def _pending_device(request: HttpRequest) -> CustomerOTPDevice | None:
    device_id = request.session.get(PENDING_DEVICE)
    since = request.session.get(PENDING_SINCE)
    if not device_id or not since:
        return None
    lifetime = timedelta(seconds=settings.CLAIM_OTP_VALIDITY_SECONDS)
    if timezone.now() - datetime.fromisoformat(since) > lifetime:
        _clear_pending(request)
        return None
    return CustomerOTPDevice.objects.filter(pk=device_id).first()


def _clear_pending(request: HttpRequest) -> None:
    for key in (PENDING_DEVICE, PENDING_SINCE, PENDING_NEXT):
        request.session.pop(key, None)


def _issue(request: HttpRequest, channel: str, destination: str) -> tuple[str, int] | None:
    """Issues and sends a code within the rate limits; returns (error, status) or None."""
    if sign_in_send_over_limit(request, channel=channel, destination=destination):
        return _("Too many codes have been asked for. Wait an hour and try again."), 429
    try:
        device = sign_in_code_issue(
            channel=channel, destination=destination, language=translation.get_language()
        )
    except SendingUnavailableError:  # logged where it was found; the same for every address
        return _("We could not send the code just now. Try again in a few minutes."), 503
    request.session[PENDING_DEVICE] = device.pk
    request.session[PENDING_SINCE] = timezone.now().isoformat()
    return None


@sensitive_post_parameters("contact")
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    if request.method == "GET" and portal_customer_for_user(request.user) is not None:
        return redirect(next_url)
    form = SignInForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": next_url}
    if request.method == "POST" and form.is_valid():
        channel, destination = form.cleaned_data["contact"]
        refusal = _issue(request, channel, destination)
        if refusal is None:
            request.session[PENDING_NEXT] = next_url
            return redirect("portal:sign-in-code")
        context["error"], status = refusal
        return render(request, "claims/sign_in.html", context, status=status)
    return render(request, "claims/sign_in.html", context)


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    device = _pending_device(request)
    if device is None:
        messages.info(request, _("Your sign-in has timed out. Please start again."))
        return redirect("portal:sign-in")
    form = CodeForm(request.POST or None)
    context: dict[str, Any] = {
        "form": form,
        "destination": mask_destination(device.channel, device.destination),
        "channel": device.channel,
        "minutes": settings.CLAIM_OTP_VALIDITY_SECONDS // 60,
    }
    if request.method != "POST" or not form.is_valid():
        return render(request, "claims/sign_in_code.html", context)
    if sign_in_verify_over_limit(request, channel=device.channel, destination=device.destination):
        context["error"] = _("Too many tries. Wait an hour and try again.")
        return render(request, "claims/sign_in_code.html", context, status=429)

    chosen = chosen_language(request)
    result = sign_in_code_verify(
        device_id=device.pk,
        code=form.cleaned_data["code"],
        language=chosen or translation.get_language(),
        language_is_chosen=chosen is not None,
    )
    if result.outcome == VerifyOutcome.SIGNED_IN:
        assert result.account is not None  # noqa: S101 - guaranteed by the outcome
        next_url = _safe_next(request, request.session.get(PENDING_NEXT, ""))
        _clear_pending(request)
        login(request, result.account.user, backend=AUTH_BACKEND)
        otp_login(request, result.device)
        response = redirect(next_url)
        language_activate_for_customer(request, response, result.account.customer)
        return response
    context["error"] = verify_error_message(result.outcome, result.tries_left)
    if result.outcome in (VerifyOutcome.NO_LIVE_CODE, VerifyOutcome.TOO_MANY_FAILURES):
        context["code_is_dead"] = True
    return render(request, "claims/sign_in_code.html", context, status=400)


@never_cache
@require_POST
def sign_in_resend(request: HttpRequest) -> HttpResponse:
    device = _pending_device(request)
    if device is None:
        messages.info(request, _("Your sign-in has timed out. Please start again."))
        return redirect("portal:sign-in")
    refusal = _issue(request, device.channel, device.destination)
    if refusal is None:
        messages.success(request, _("We have sent you a new code."))
    else:
        messages.error(request, refusal[0])
    return redirect("portal:sign-in-code")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("portal:sign-in")
