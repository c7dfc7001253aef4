"""How a sign-in code reaches a customer.

Everything the portal sends goes through ``send_customer_code``, so it can move to crm's
notification engine (Twilio and anymail) by changing this one module. Until then email
goes through Django's mail and a text message is written to the log, which is only
allowed where SMS_BACKEND is "logged" (local runs and tests): a production log must never
hold sign-in codes.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from claims.models import CustomerOTPDevice

sms_logger = logging.getLogger("claims.sms")


class SendingUnavailableError(Exception):
    """The channel cannot deliver messages in this deployment."""


def can_send(channel: str) -> bool:
    if channel == CustomerOTPDevice.Channel.SMS:
        return settings.SMS_BACKEND == "logged"
    return True


def send_customer_code(*, channel: str, destination: str, code: str, language: str) -> None:
    """Sends ``code`` to ``destination`` (E.164 phone or email) in ``language``."""
    if not can_send(channel):
        raise SendingUnavailableError(channel)
    minutes = settings.CLAIM_OTP_VALIDITY_SECONDS // 60
    with translation.override(language):
        if channel == CustomerOTPDevice.Channel.EMAIL:
            subject = _("Your sign-in code: %(code)s") % {"code": code}
            body = _(
                "Your sign-in code is %(code)s.\n\n"
                "It works once, for %(minutes)s minutes. If you did not ask for it, you can "
                "ignore this message: nobody can sign in without the code."
            ) % {"code": code, "minutes": minutes}
            send_mail(subject, body, None, [destination])
        else:
            text = _("%(code)s is your sign-in code. It works once, for %(minutes)s minutes.") % {
                "code": code,
                "minutes": minutes,
            }
            sms_logger.info("SMS to %s: %s", destination, text)
