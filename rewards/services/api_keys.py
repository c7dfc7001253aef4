"""Integrator API keys: created once (the key is shown only then), revoked, never stored.

Authentication (``api_key_authenticate``) remembers a key that proved itself for
``API_KEY_CACHE_SECONDS`` (default 5 s) in this process, keyed by the SHA-256 of the whole
key, so only hashes are held, as in the database. An authenticated request then costs no
query. Revoking a key forgets it in the revoking process at once; any other process (another
gunicorn worker) stops accepting it within the cache time. A deactivated merchant's keys
likewise stop within that time.
"""

import threading
import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from crm.audit import audit_record
from rewards.models import ApiKey, Merchant, api_key_hash

# SHA-256 of a key: (monotonic time until which it is trusted, its row with the merchant).
# Only keys that authenticated are kept, so the size is bounded by the number of live keys.
_cache: dict[str, tuple[float, ApiKey]] = {}
_cache_lock = threading.Lock()

_KEY_SQL = """
SELECT k.id, k.key_hash, k.name, k.created_at, m.id, m.code, m.name, m.area, m.is_active,
       m.created_at
  FROM rewards_apikey k JOIN rewards_merchant m ON m.id = k.merchant_id
 WHERE k.prefix = %s AND k.revoked_at IS NULL
"""


def api_key_authenticate(key: str) -> ApiKey | None:
    """The live key (with its merchant) that ``key`` is, or None: unknown, revoked, wrong
    secret or inactive merchant. One parameterised query, skipped while the key is cached."""
    prefix = key.split(".", 1)[0]
    if not prefix:
        return None
    key_hash = api_key_hash(key)
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [prefix])
        row = cursor.fetchone()
    if row is None or not constant_time_compare(row[1], key_hash) or not row[8]:
        api_key_cache_forget(key_hash)
        return None
    merchant = Merchant(
        id=row[4], code=row[5], name=row[6], area=row[7], is_active=row[8], created_at=row[9]
    )
    api_key = ApiKey(
        id=row[0],
        merchant=merchant,
        name=row[2],
        prefix=prefix,
        key_hash=row[1],
        created_at=row[3],
        revoked_at=None,
    )
    api_key._state.adding = merchant._state.adding = False
    seconds = float(settings.API_KEY_CACHE_SECONDS)
    if seconds > 0:
        with _cache_lock:
            _cache[key_hash] = (now + seconds, api_key)
    return api_key


def api_key_cache_forget(key_hash: str | None = None) -> None:
    """Forgets one key (by its stored hash) or, without one, every key this process holds."""
    with _cache_lock:
        if key_hash is None:
            _cache.clear()
        else:
            _cache.pop(key_hash, None)


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
    api_key_cache_forget(locked.key_hash)
    return locked
