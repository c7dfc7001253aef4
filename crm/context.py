"""Per-request context (request id, client IP, user) that services read without a request.

Context variables work for threads and asyncio alike; the request middleware sets them and
Celery tasks leave them empty.
"""

from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("request_id", default="")
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
current_request: ContextVar[Any] = ContextVar("current_request", default=None)


def current_user() -> Any:
    """The signed-in user of the current request, or None (background work, anonymous)."""
    request = current_request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None
