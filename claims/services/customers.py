"""What the portal changes on the customer's own crm record: their preferred language."""

from typing import Any

from django.conf import settings
from django.db import transaction

from crm.audit import audit_record
from crm.models import Customer


def customer_language_set(*, customer: Customer, language: str, actor: Any) -> Customer:
    """Remembers ``language`` as the customer's preferred language (messages, the portal
    after sign-in). Returns the customer as saved; choosing the same language again writes
    nothing. Raises ValueError for a language the site does not offer."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"Not one of the site's languages: {language!r}")
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.preferred_language == language:
            return locked
        before = {"preferred_language": locked.preferred_language}
        locked.preferred_language = language
        locked.save(update_fields=["preferred_language"])
        audit_record(
            action="crm.customer_language_changed",
            actor=actor,
            target=locked,
            before=before,
            after={"preferred_language": language},
        )
    customer.preferred_language = language
    return locked
