"""The shared cache (Redis in production) as govloop uses it: only in front of the database,
never instead of it. Django's cache API raises whatever the backend raises (connection
refused, OOM "command not allowed when used memory > 'maxmemory'", a socket timeout on a hung
server), so every call here catches it, logs it and answers "miss" (reads) or False
(writes): the caller then reads the database.

Each call is bounded by the client's socket timeouts (``settings.REDIS_TIMEOUT``, connect and
read). After a failure the cache is skipped by this process for ``BREAKER_SECONDS`` (reads
and add/set go straight to the database) so that a hung Redis costs one timeout per process
and second, not one per request. Invalidations (``delete``) are always attempted: a skipped
delete would leave a stale entry behind once Redis answers again.

Correctness never depends on a write here succeeding: entries that guard production carry the
time of the database read they came from, and readers distrust old ones
(``governance.services.levers``, ``governance.selectors``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

MISS: Any = object()
BREAKER_SECONDS = 1.0
_skip_until = 0.0


def _skipping() -> bool:
    return time.monotonic() < _skip_until


def _failed(operation: str, key: str, exc: Exception) -> None:
    global _skip_until
    _skip_until = time.monotonic() + BREAKER_SECONDS
    logger.warning(
        "cache %s %s failed (%s: %s): using the database", operation, key, type(exc).__name__, exc
    )


def reset_breaker() -> None:
    """Forget earlier failures (tests; an operator's shell after fixing Redis)."""
    global _skip_until
    _skip_until = 0.0


def cache_get(key: str) -> Any:
    """The cached value, or ``MISS`` when absent, skipped or failing."""
    if _skipping():
        return MISS
    try:
        return cache.get(key, MISS)
    except Exception as exc:
        _failed("get", key, exc)
        return MISS


def cache_set(key: str, value: Any, timeout: float) -> bool:
    if _skipping():
        return False
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        _failed("set", key, exc)
        return False
    return True


def cache_add(key: str, value: Any, timeout: float) -> bool:
    if _skipping():
        return False
    try:
        return bool(cache.add(key, value, timeout))
    except Exception as exc:
        _failed("add", key, exc)
        return False


def cache_delete_many(keys: list[str]) -> bool:
    """True when every key is gone from the cache (or was never there)."""
    try:
        cache.delete_many(keys)
    except Exception as exc:
        _failed("delete", ",".join(keys), exc)
        return False
    return True
