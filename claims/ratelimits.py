"""The portal's rate limits, shared by its pages and the claims API.

Both surfaces count against the same django-ratelimit groups in the shared Redis cache, so
a client gets one allowance whichever way it comes in: asking for codes on the page and
through the API draws from the same counter. Every check moves both of its counters, so
a limited answer looks the same whichever limit was reached (and cannot tell whether a
phone number or email address is known).
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_ratelimit.core import is_ratelimited

from crm.models import Customer


def _over(request: Any, *, group: str, key: Any, rate: str) -> bool:
    return bool(is_ratelimited(request, group=group, key=key, rate=rate, increment=True))


def _fixed_key(value: str) -> Any:
    return lambda _group, _request: value


def sign_in_send_over_limit(request: Any, *, channel: str, destination: str) -> bool:
    """Counts one "send me a code" against the client IP and the phone or email address."""
    by_ip = _over(
        request, group="portal-otp-send", key="ip", rate=settings.CLAIM_OTP_SEND_RATE_PER_IP
    )
    by_destination = _over(
        request,
        group="portal-otp-send",
        key=_fixed_key(f"{channel}:{destination}"),
        rate=settings.CLAIM_OTP_SEND_RATE_PER_DESTINATION,
    )
    return by_ip or by_destination


def sign_in_verify_over_limit(request: Any, *, channel: str, destination: str) -> bool:
    """Counts one code check against the client IP and the phone or email address."""
    by_ip = _over(
        request, group="portal-otp-verify", key="ip", rate=settings.CLAIM_OTP_VERIFY_RATE_PER_IP
    )
    by_destination = _over(
        request,
        group="portal-otp-verify",
        key=_fixed_key(f"{channel}:{destination}"),
        rate=settings.CLAIM_OTP_VERIFY_RATE_PER_DESTINATION,
    )
    return by_ip or by_destination


@dataclass(frozen=True)
class CustomerLimit:
    """A limit per signed-in customer and per client IP; the rates are named settings (read at
    each request, so tests and operators can change them)."""

    group: str
    customer_setting: str
    ip_setting: str

    def is_over(self, request: Any, *, customer: Customer) -> bool:
        """Counts one attempt; True if the customer or the IP is over its rate."""
        by_customer = _over(
            request,
            group=self.group,
            key=_fixed_key(f"customer:{customer.pk}"),
            rate=str(getattr(settings, self.customer_setting)),
        )
        by_ip = _over(
            request,
            group=self.group,
            key="ip",
            rate=str(getattr(settings, self.ip_setting)),
        )
        return by_customer or by_ip


CODE_ENTRY = CustomerLimit(
    group="portal-code-enter",
    customer_setting="CLAIM_CODE_ENTER_RATE_PER_CUSTOMER",
    ip_setting="CLAIM_CODE_ENTER_RATE_PER_IP",
)
DOCUMENT_UPLOAD = CustomerLimit(
    group="portal-document-upload",
    customer_setting="CLAIM_UPLOAD_RATE_PER_CUSTOMER",
    ip_setting="CLAIM_UPLOAD_RATE_PER_IP",
)
