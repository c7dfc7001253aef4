"""``Authorization: Api-Key <key>``: integrators authenticate as one merchant."""

from typing import Any

from django.utils.crypto import constant_time_compare
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from rewards.models import ApiKey, api_key_hash

KEYWORD = "Api-Key"


class Integrator:
    """The principal behind an API key (request.user); ``request.auth`` is the ApiKey."""

    is_authenticated = True
    is_active = True
    is_staff = False
    pk = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.merchant = api_key.merchant

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def get_username(self) -> str:
        return str(self)


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Integrator, ApiKey] | None:
        header = get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = key.strip()
        prefix = key.split(".", 1)[0]
        api_key = (
            ApiKey.objects.select_related("merchant")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
            if prefix
            else None
        )
        if (
            api_key is None
            or not constant_time_compare(api_key.key_hash, api_key_hash(key))
            or not api_key.merchant.is_active
        ):
            raise AuthenticationFailed("Invalid or revoked API key.")
        return Integrator(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class IsIntegrator(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "rewards.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'The merchant\'s key as "Api-Key <key>".',
        }
