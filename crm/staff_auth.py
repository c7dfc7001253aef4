"""Staff sign-in: password, then a TOTP code from django-otp (or enrolment of a first device).

Between the two steps the user is *not* signed in: only their id waits in the session for a
few minutes. Every step is rate limited per client IP and per account.
"""

import base64
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_ratelimit.core import is_ratelimited

from crm.audit import audit_record

PENDING_USER = "staff_auth_pending_user"
PENDING_BACKEND = "staff_auth_pending_backend"
PENDING_SINCE = "staff_auth_pending_since"
PENDING_LIFETIME = timedelta(minutes=5)


class TokenForm(forms.Form):
    otp_token = forms.RegexField(
        label=_("Six-digit code from your authenticator app"),
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": _("Enter the six digits your authenticator app shows.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return str(settings.LOGIN_REDIRECT_URL)


def _limited(request: HttpRequest, group: str, account_key: str = "") -> bool:
    by_ip = is_ratelimited(
        request, group=group, key="ip", rate=settings.STAFF_LOGIN_RATE, increment=True
    )
    by_account = bool(account_key) and is_ratelimited(
        request,
        group=group,
        key=lambda _group, _request: account_key,
        rate=settings.STAFF_LOGIN_RATE,
        increment=True,
    )
    return by_ip or by_account


def _pending_user(request: HttpRequest) -> Any:
    user_id = request.session.get(PENDING_USER)
    since = request.session.get(PENDING_SINCE)
    if not user_id or not since:
        return None
    if timezone.now() - datetime.fromisoformat(since) > PENDING_LIFETIME:
        _clear_pending(request)
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def _clear_pending(request: HttpRequest) -> None:
    for key in (PENDING_USER, PENDING_BACKEND, PENDING_SINCE):
        request.session.pop(key, None)


def _finish(request: HttpRequest, user: Any, device: TOTPDevice | None) -> HttpResponse:
    backend = request.session.get(PENDING_BACKEND)
    next_url = _next_url(request)
    _clear_pending(request)
    login(request, user, backend=backend)
    if device is not None:
        otp_login(request, device)
    return redirect(next_url)


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def staff_login(request: HttpRequest) -> HttpResponse:
    form = AuthenticationForm(request, data=request.POST or None)
    context: dict[str, Any] = {"form": form, "next": _next_url(request)}
    if request.GET.get("expired"):
        context["notice"] = _("Your session ended. Please sign in again.")
    if request.method == "POST":
        if _limited(request, "staff-login", request.POST.get("username", "").lower()):
            form.is_valid()  # bind, so the template can show the form again
            context["error"] = _("Too many attempts. Wait a few minutes and try again.")
            return render(request, "registration/login.html", context, status=429)
        if form.is_valid():
            user = form.get_user()
            if request.user.is_authenticated:
                logout(request)
            request.session[PENDING_USER] = user.pk
            request.session[PENDING_BACKEND] = user.backend
            request.session[PENDING_SINCE] = timezone.now().isoformat()
            has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
            query = urlencode({"next": context["next"]})
            if has_device:
                return redirect(f"{reverse('staff-login-verify')}?{query}")
            if settings.STAFF_OTP_REQUIRED:
                return redirect(f"{reverse('staff-login-enrol')}?{query}")
            return _finish(request, user, None)
    return render(request, "registration/login.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def staff_login_verify(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("staff-login")
    form = TokenForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": _next_url(request)}
    if request.method == "POST":
        if _limited(request, "staff-login-verify", f"user:{user.pk}"):
            context["error"] = _("Too many attempts. Wait a few minutes and try again.")
            return render(request, "registration/login_verify.html", context, status=429)
        if form.is_valid():
            token = form.cleaned_data["otp_token"]
            for device in TOTPDevice.objects.filter(user=user, confirmed=True):
                if device.verify_token(token):
                    return _finish(request, user, device)
            audit_record(action="auth.totp_failed", actor=None, target=user)
            form.add_error(
                "otp_token", _("That code is not right or has expired. Try the next one.")
            )
    return render(request, "registration/login_verify.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def staff_login_enrol(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("staff-login")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        query = urlencode({"next": _next_url(request)})
        return redirect(f"{reverse('staff-login-verify')}?{query}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST":
        if _limited(request, "staff-login-enrol", f"user:{user.pk}"):
            form.add_error(None, _("Too many attempts. Wait a few minutes and try again."))
        elif form.is_valid() and device.verify_token(form.cleaned_data["otp_token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(action="auth.totp_enrolled", actor=user, target=user)
            return _finish(request, user, device)
        elif form.is_valid():
            form.add_error("otp_token", _("That code is not right. Check the time on your phone."))
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    qr_data_uri = "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    context = {
        "form": form,
        "qr_data_uri": qr_data_uri,
        "secret": secret,
        "next": _next_url(request),
    }
    return render(request, "registration/login_enrol.html", context)


@require_http_methods(["POST"])
def staff_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)
