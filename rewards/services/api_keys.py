"""Integrator API keys: created once (the key is shown only then), revoked, never stored."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.audit import audit_record
from rewards.models import ApiKey, Merchant, api_key_hash


def api_key_create(*, merchant: Merchant, name: str = "", actor: Any) -> tuple[ApiKey, str]:
    """Returns the new key row and the key itself, which is not kept anywhere."""
    prefix, key = ApiKey.generate()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant, name=name, prefix=prefix, key_hash=api_key_hash(key)
        )
        audit_record(
            action="api_key.create",
            actor=actor,
            target=api_key,
            after={"merchant": merchant.code, "prefix": prefix, "name": name},
        )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, actor: Any) -> ApiKey:
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(action="api_key.revoke", actor=actor, target=locked)
    return locked
