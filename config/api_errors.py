"""The project's one shape for API errors: JSON ``{"code", "message"}``, plus ``errors`` (each
field's messages) when the request was not valid. Every DRF view gets it (the
``EXCEPTION_HANDLER`` setting); an API with errors of its own (rewards, claims) turns them
into this shape first and hands the rest here."""

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's own errors reshaped; anything unexpected logged and answered with a JSON 500."""
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound(_("Not found."))
    response = exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.error("Unexpected error in %s", type(view).__name__, exc_info=exc)
        set_rollback()
        return Response(
            {"code": "server_error", "message": _("Something went wrong on our side. Try again.")},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "message": _("Some of what was sent is not valid; see errors."),
            "errors": exc.detail,
        }
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else exc.default_code,
            "message": str(exc.detail),
        }
    return response
