"""Shared fixtures. The suite runs against the real PostgreSQL and Redis named by
DATABASE_URL and REDIS_URL (defaults: the local servers on 127.0.0.1)."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached sessions live in Redis: start every test clean."""
    cache.clear()
    yield
    cache.clear()
