"""The audit trail: one function every app calls to record an event, and the chain check.

Rows are append-only (a trigger refuses UPDATE and DELETE) and tamper-evident: each row's
hash covers its content and the previous row's hash, so editing or removing any row breaks
the chain from there on, which ``verify_audit_chain`` reports.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from crm import context
from crm.models import AuditEvent

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key that serialises appends to the chain (held until commit).
_CHAIN_LOCK_KEY = 7_100_431_001
_SECRET_FIELDS = frozenset({"password", "key", "bin_key"})


def _to_json_value(value: Any) -> Any:
    """Normalises a before/after payload to what jsonb will hand back (str keys, no dates)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _content_hash(event: AuditEvent) -> str:
    content = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_label": event.object_label,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((event.previous_hash + canonical).encode()).hexdigest()


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Appends one event to the trail.

    Call it inside the transaction that makes the change, so the event and the change commit
    or roll back together. ``target`` fills the object fields from a model instance; the
    request id and client IP come from the current request, if any.
    """
    if target is not None:
        object_type = target._meta.label_lower
        object_id = target.pk
        object_label = str(target)[:200]
    else:
        object_label = ""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor if is_user else None,
        actor_label=(actor.get_username() if is_user else str(actor or "system"))[:200],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label,
        before=_to_json_value(before),
        after=_to_json_value(after),
        request_id=context.request_id.get(),
        # Hashed as the database will hand it back (IPv6 compressed, lower case), or a
        # client address spelled another way would fail verification.
        ip_address=AuditEvent._meta.get_field("ip_address").to_python(context.client_ip.get()),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        cursor.execute("SELECT hash FROM crm_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        event.previous_hash = row[0] if row else GENESIS_HASH
        event.hash = _content_hash(event)
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_chain_breaks(*, chunk_size: int = 5000) -> Iterator[ChainBreak]:
    """Yields every place where the stored trail does not match its hash chain."""
    expected_previous = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.previous_hash != expected_previous:
            yield ChainBreak(event.pk, "previous hash does not match the row before it")
        if _content_hash(event) != event.hash:
            yield ChainBreak(event.pk, "content does not match its hash")
        expected_previous = event.hash


def model_snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The concrete field values of ``instance`` (foreign keys as ids) for before/after.

    Secrets (password hashes) are left out: the trail is readable by auditors.
    """
    names = fields or [
        field.attname
        for field in instance._meta.concrete_fields
        if field.attname not in _SECRET_FIELDS
    ]
    return {name: getattr(instance, name) for name in names}
