"""Sign-in by one-time code: issuing and verifying codes, and creating the customer and
their portal account on a first sign-in."""

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.models import CustomerAccount, CustomerOTPDevice
from claims.sending import send_customer_code
from claims.services.customers import customer_language_set
from crm.audit import audit_record, model_snapshot
from crm.models import Customer
from crm.notifications.services import messages_to_addresses_purge


def sign_in_code_issue(*, channel: str, destination: str, language: str) -> CustomerOTPDevice:
    """Gives the destination's device a fresh code and sends it; returns the device.

    Behaves the same whether or not a customer has this phone number or email address:
    no customer is looked up here, and none is created until a code is verified. A new
    code replaces any earlier one and starts with a clean failure count. The message
    carrying the code is enqueued in this transaction and sent by crm's notification engine
    after commit, so the code in it is already valid. Raises SendingUnavailableError (and
    changes nothing) when no message template can carry the code.
    """
    with transaction.atomic():
        device, _created = CustomerOTPDevice.objects.select_for_update().get_or_create(
            channel=channel, destination=destination, defaults={"name": channel}
        )
        code = f"{secrets.randbelow(1_000_000):06d}"
        now = timezone.now()
        device.token_hash = device.hash_code(code)
        device.valid_until = now + timedelta(seconds=settings.CLAIM_OTP_VALIDITY_SECONDS)
        device.last_sent_at = now
        device.throttle_reset(commit=False)
        device.save(
            update_fields=[
                "token_hash",
                "valid_until",
                "last_sent_at",
                "throttling_failure_count",
                "throttling_failure_timestamp",
            ]
        )
        audit_record(action="portal.sign_in_code_sent", target=device)
        send_customer_code(device=device, code=code, language=language)
    return device


class VerifyOutcome(enum.Enum):
    SIGNED_IN = "signed_in"
    WRONG_CODE = "wrong_code"
    TOO_MANY_FAILURES = "too_many_failures"
    NO_LIVE_CODE = "no_live_code"
    WAIT = "wait"
    ACCOUNT_CLOSED = "account_closed"


@dataclass(frozen=True)
class VerifyResult:
    outcome: VerifyOutcome
    device: CustomerOTPDevice
    account: CustomerAccount | None = None
    tries_left: int = 0
    retry_at: datetime | None = None
    customer_created: bool = False


def sign_in_code_verify(
    *, device_id: int, code: str, language: str, language_is_chosen: bool = False
) -> VerifyResult:
    """Checks a code and, if right, returns the customer account to sign in.

    On the first right code for a phone number or email address no customer holds, the
    customer is created (with ``language`` as their preferred language) together with a
    portal account; an existing customer gets a portal account on their first sign-in.
    An existing customer keeps their preferred language (the portal switches to it), unless
    ``language_is_chosen``: the visitor picked ``language`` with the language switcher, and
    that choice is remembered instead.
    The device row is locked for the whole check, so concurrent guesses are counted one
    by one and a code can be used only once.
    """
    with transaction.atomic():
        device = CustomerOTPDevice.objects.select_for_update().get(pk=device_id)
        if not device.has_live_code:
            return VerifyResult(VerifyOutcome.NO_LIVE_CODE, device)
        allowed, details = device.verify_is_allowed()
        if not allowed:
            retry_at = (details or {}).get("locked_until")
            return VerifyResult(VerifyOutcome.WAIT, device, retry_at=retry_at)
        if not device.verify_token(code):
            audit_record(
                action="portal.sign_in_code_failed",
                target=device,
                after={"failures": device.throttling_failure_count},
            )
            if not device.token_hash:
                return VerifyResult(VerifyOutcome.TOO_MANY_FAILURES, device)
            tries_left = settings.CLAIM_OTP_MAX_FAILURES - device.throttling_failure_count
            return VerifyResult(VerifyOutcome.WRONG_CODE, device, tries_left=tries_left)

        customer, customer_created = _customer_for_destination(device, language)
        account = _account_for_customer(customer)
        if not account.user.is_active:
            audit_record(action="portal.sign_in_refused_closed", target=account)
            return VerifyResult(VerifyOutcome.ACCOUNT_CLOSED, device, account=account)
        device.user = account.user
        device.save(update_fields=["user"])
        account.last_signed_in_at = timezone.now()
        account.save(update_fields=["last_signed_in_at"])
        if language_is_chosen and not customer_created:
            customer_language_set(customer=customer, language=language, actor=account.user)
        audit_record(action="portal.signed_in", actor=account.user, target=customer)
        return VerifyResult(
            VerifyOutcome.SIGNED_IN, device, account=account, customer_created=customer_created
        )


def _customer_for_destination(device: CustomerOTPDevice, language: str) -> tuple[Customer, bool]:
    is_email = device.channel == CustomerOTPDevice.Channel.EMAIL
    lookup: dict[str, Any] = (
        {"email__iexact": device.destination} if is_email else {"phone": device.destination}
    )
    customer = Customer.objects.select_for_update().filter(**lookup).order_by("pk").first()
    if customer is not None:
        return customer, False
    fields = {"email" if is_email else "phone": device.destination}
    try:
        # The helpdesk may be adding the same customer right now: the unique constraint
        # decides, and the loser reads the winner's row.
        with transaction.atomic():
            customer = Customer.objects.create(preferred_language=language, **fields)
    except IntegrityError:
        return Customer.objects.select_for_update().get(**lookup), False
    audit_record(
        action="crm.customer_created",
        target=customer,
        after=model_snapshot(customer, ["id", "phone", "email", "preferred_language"]),
    )
    return customer, True


def _account_for_customer(customer: Customer) -> CustomerAccount:
    """The customer's portal account, created with an unusable password if missing.

    Call holding the customer's row lock, so two first sign-ins (by phone and by email)
    cannot both create one.
    """
    account = CustomerAccount.objects.select_related("user").filter(customer=customer).first()
    if account is not None:
        return account
    user = get_user_model().objects.create_user(username=f"customer-{customer.pk}")
    account = CustomerAccount.objects.create(customer=customer, user=user)
    audit_record(action="portal.account_created", actor=user, target=account)
    return account


@dataclass(frozen=True)
class SignInPurge:
    devices: int
    messages: int


def sign_in_data_purge(*, now: datetime | None = None) -> SignInPurge:
    """Forgets the addresses nobody proved, CLAIM_SIGN_IN_RETENTION_DAYS after their last
    code: sign-in devices never verified (a typo, somebody else's number) and the sign-in
    messages sent to an address. A verified device belongs to a customer's account and is
    kept. Safe to run at any time, and twice."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CLAIM_SIGN_IN_RETENTION_DAYS)
    with transaction.atomic():
        _total, deleted = (
            CustomerOTPDevice.objects.filter(user__isnull=True, created_at__lt=cutoff)
            .exclude(last_sent_at__gte=cutoff)
            .delete()
        )
        messages = messages_to_addresses_purge(created_before=cutoff)
    return SignInPurge(devices=deleted.get(CustomerOTPDevice._meta.label, 0), messages=messages)
