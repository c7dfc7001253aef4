"""``Authorization: Api-Key <key>``: integrators authenticate as one merchant (the key is
checked by rewards.services.api_keys.api_key_authenticate, which remembers a proven key for a
few seconds; see docs/LEDGER.md, "API keys")."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from rewards.models import ApiKey
from rewards.services.api_keys import api_key_authenticate

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
        api_key = api_key_authenticate(key.strip())
        if api_key is None:
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
