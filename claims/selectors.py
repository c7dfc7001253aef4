"""Reads for the customer portal, and its one access gate."""

from typing import Any

from claims.models import CustomerAccount, CustomerOTPDevice
from crm.models import Customer


def portal_customer_for_user(user: Any) -> Customer | None:
    """The customer a portal session belongs to, or None.

    Only a user who signed in through the portal counts: active, linked to a customer by
    a CustomerAccount, and verified in this session by a customer sign-in device (the
    OTP middleware checks that the device is still theirs). Staff users never qualify.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    device = getattr(user, "otp_device", None)
    if not isinstance(device, CustomerOTPDevice):
        return None
    account = CustomerAccount.objects.select_related("customer").filter(user_id=user.pk).first()
    return account.customer if account is not None else None
