import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.functional import cached_property

from crm import context

logger = logging.getLogger("campaigns.request")

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives every request an id (kept from X-Request-ID when well formed), returns it in the
    response, tags every log line with it, and logs one structured line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = (context.request_id.set(request_id), context.current_request.set(request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                    "ip": request.META.get("REMOTE_ADDR"),
                },
            )
            return response
        finally:
            context.request_id.reset(tokens[0])
            context.current_request.reset(tokens[1])


class _TrustedNetworks:
    @cached_property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES]

    def contains(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def client_ip_from(remote_addr: str, forwarded_for: str, trusted: _TrustedNetworks) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right, skipping our own
    proxies; the first address that is not ours is the client. Anything further left was
    written by the client and could be forged, so it is never used.
    """
    if not trusted.contains(remote_addr):
        return remote_addr
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _is_ip(hop):
            return remote_addr
        if not trusted.contains(hop):
            return hop
    return remote_addr


class TrustedProxyMiddleware:
    """Sets REMOTE_ADDR to the real client address (see client_ip_from), so rate limits and
    the audit trail see the client, and a forged X-Forwarded-For changes nothing. Forwarding
    headers from a peer that is not a trusted proxy are dropped, so X-Forwarded-Proto (read
    by SECURE_PROXY_SSL_HEADER) is only believed from our own proxies."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.trusted = _TrustedNetworks()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        remote_addr = request.META.get("REMOTE_ADDR", "")
        if not self.trusted.contains(remote_addr):
            for header in ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"):
                request.META.pop(header, None)
        request.META["REMOTE_ADDR"] = client_ip_from(
            remote_addr, request.META.get("HTTP_X_FORWARDED_FOR", ""), self.trusted
        )
        token = context.client_ip.set(request.META["REMOTE_ADDR"] or None)
        try:
            return self.get_response(request)
        finally:
            context.client_ip.reset(token)


SESSION_STARTED_AT = "staff_session_started_at"
SESSION_LAST_SEEN_AT = "staff_session_last_seen_at"


def is_staff_user(user: object) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and (getattr(user, "is_staff", False) or hasattr(user, "staff_profile"))
    )


class StaffSessionTimeoutMiddleware:
    """Ends a staff session after STAFF_SESSION_IDLE_TIMEOUT without a request, or
    STAFF_SESSION_MAX_AGE after sign-in, whichever comes first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_staff_user(request.user):
            now = timezone.now()
            started = _read_time(request, SESSION_STARTED_AT) or now
            last_seen = _read_time(request, SESSION_LAST_SEEN_AT) or now
            if (
                now - last_seen > settings.STAFF_SESSION_IDLE_TIMEOUT
                or now - started > settings.STAFF_SESSION_MAX_AGE
            ):
                logout(request)
                query = urlencode({"next": request.get_full_path(), "expired": "1"})
                return redirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")
            request.session.setdefault(SESSION_STARTED_AT, now.isoformat())
            # Writing the session on every request costs a cache write; once a minute is
            # precise enough for a 30-minute idle limit.
            if (
                now - last_seen
            ).total_seconds() >= 60 or SESSION_LAST_SEEN_AT not in request.session:
                request.session[SESSION_LAST_SEEN_AT] = now.isoformat()
        response = self.get_response(request)
        # Signing in happens in the view, after the check above: start both clocks now, or
        # the time until the next request would count neither as idle nor towards the limit.
        if is_staff_user(request.user) and SESSION_STARTED_AT not in request.session:
            now_text = timezone.now().isoformat()
            request.session[SESSION_STARTED_AT] = now_text
            request.session[SESSION_LAST_SEEN_AT] = now_text
        return response


def _read_time(request: HttpRequest, key: str) -> datetime | None:
    value = request.session.get(key)
    return datetime.fromisoformat(value) if value else None
