"""How a customer authenticates to the claims API.

Two ways, both ending in the same gate (``claims.selectors.portal_customer_for_user``):

- **Session**: a browser signed in to the portal (``/claim/sign-in/``) calls the API with
  its session cookie; DRF's SessionAuthentication, with its CSRF check on every write.
- **Bearer token**: after ``POST sign-in/verify/`` the API hands out a short-lived access
  token, sent back as ``Authorization: Bearer <token>``.

The token is Django's ``signing`` of {user id, sign-in device id, a keyed digest of the
user's password field} with its own salt and a timestamp: nothing is stored, it cannot be
forged without SECRET_KEY, and it dies

- after CLAIM_API_TOKEN_SECONDS (3600 = one hour; read in ``token_lifetime_seconds``);
- when the phone number or email address it was verified with is verified by another
  customer (the device then belongs to them);
- when the user is deactivated, or their (unusable) password is reset, which also ends
  every portal session of theirs (Django checks the same field for sessions);
- when SECRET_KEY is rotated.

It cannot be revoked one by one: that is why it is short-lived. A client signs in again
with a new one-time code when it expires.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from claims.models import CustomerOTPDevice
from claims.selectors import portal_customer_for_user

KEYWORD = "Bearer"
ACCESS_SIGNING_SALT = "claims.api.access-token"
SIGN_IN_SALT = "claims.api.sign-in"


def token_lifetime_seconds() -> int:
    return int(settings.CLAIM_API_TOKEN_SECONDS)


def _password_digest(user: Any) -> str:
    return salted_hmac(ACCESS_SIGNING_SALT, user.password, algorithm="sha256").hexdigest()[:32]


@dataclass(frozen=True)
class AccessToken:
    """``request.auth`` of a bearer-authenticated request."""

    user_id: int
    device_id: int


def access_token_issue(*, user: Any, device: CustomerOTPDevice) -> str:
    """A signed access token for ``user``, who has just verified a code with ``device``."""
    payload = {"u": user.pk, "d": device.pk, "p": _password_digest(user)}
    return signing.dumps(payload, salt=ACCESS_SIGNING_SALT)


def sign_in_token_issue(device: CustomerOTPDevice) -> str:
    """What the API hands back for "send me a code": it names the device to verify against,
    and (signed, timestamped) cannot be altered to point at another one."""
    return signing.dumps({"d": device.pk}, salt=SIGN_IN_SALT)


def sign_in_token_device(token: str) -> CustomerOTPDevice | None:
    """The device a sign-in token names, while a code sent with it can still be valid."""
    try:
        payload = signing.loads(
            token, salt=SIGN_IN_SALT, max_age=settings.CLAIM_OTP_VALIDITY_SECONDS
        )
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), int):
        return None
    return CustomerOTPDevice.objects.filter(pk=payload["d"]).first()


class CustomerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>`` from ``POST sign-in/verify/``."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(_("Give the access token after the word Bearer."))
        try:
            payload = signing.loads(
                parts[1].decode("latin-1"),
                salt=ACCESS_SIGNING_SALT,
                max_age=token_lifetime_seconds(),
            )
        except signing.SignatureExpired:
            raise AuthenticationFailed(_("The access token has expired. Sign in again.")) from None
        except signing.BadSignature:
            raise AuthenticationFailed(_("The access token is not valid.")) from None
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), expected)
            for key, expected in (("u", int), ("d", int), ("p", str))
        ):
            raise AuthenticationFailed(_("The access token is not valid."))
        user = get_user_model().objects.filter(pk=payload["u"], is_active=True).first()
        device = (
            CustomerOTPDevice.objects.filter(pk=payload["d"], user_id=payload["u"]).first()
            if user is not None
            else None
        )
        if (
            user is None
            or device is None
            or not constant_time_compare(payload["p"], _password_digest(user))
        ):
            raise AuthenticationFailed(_("The access token is no longer valid. Sign in again."))
        # What django-otp's middleware sets for a session verified with this device.
        user.otp_device = device  # type: ignore[attr-defined]
        return user, AccessToken(user_id=user.pk, device_id=device.pk)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class IsPortalCustomer(BasePermission):
    """A signed-in portal customer (session or token); the customer is left on the request."""

    message = gettext_lazy("Sign in as a customer to use the claims API.")

    def has_permission(self, request: Request, view: Any) -> bool:
        customer = portal_customer_for_user(request.user)
        if customer is None:
            return False
        request.customer = customer  # type: ignore[attr-defined]
        return True


class CustomerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "claims.api.authentication.CustomerTokenAuthentication"
    name = "CustomerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The access token from POST /api/v1/claims/sign-in/verify/, "
            "valid for an hour.",
        }
