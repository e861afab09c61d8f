"""The shared cache wrapper: a cache error is a miss, never an exception, and a failing cache is
skipped for a moment; the invalidation retry task. (Real Redis faults: test_faults.py.)"""

import pytest
from django.core.cache import cache

from governance import shared_cache
from governance.tasks import CacheUnavailable, cache_invalidate


@pytest.fixture(autouse=True)
def _fresh_breaker():
    shared_cache.reset_breaker()
    yield
    shared_cache.reset_breaker()


def broken(*args, **kwargs):
    raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")


def test_a_failing_read_is_a_miss_and_the_cache_is_skipped_for_a_moment(monkeypatch):
    cache.set("k", "v")
    monkeypatch.setattr(cache, "get", broken)

    assert shared_cache.cache_get("k") is shared_cache.MISS
    monkeypatch.undo()
    # Within BREAKER_SECONDS the process does not wait on the cache again.
    assert shared_cache.cache_get("k") is shared_cache.MISS
    assert shared_cache.cache_set("k", "w", 10) is False
    shared_cache.reset_breaker()
    assert shared_cache.cache_get("k") == "v"


@pytest.mark.parametrize("operation", ["set", "add"])
def test_a_failing_write_is_reported_not_raised(monkeypatch, operation):
    monkeypatch.setattr(cache, operation, broken)

    assert getattr(shared_cache, f"cache_{operation}")("k", "v", 10) is False


def test_an_invalidation_is_attempted_even_while_the_cache_is_skipped(monkeypatch):
    cache.set("k", "v")
    monkeypatch.setattr(cache, "get", broken)
    shared_cache.cache_get("k")
    monkeypatch.undo()

    assert shared_cache.cache_delete_many(["k"]) is True
    assert cache.get("k") is None


def test_the_retry_task_deletes_the_keys(monkeypatch):
    cache.set("a", 1)
    cache.set("b", 2)

    cache_invalidate.run(["a", "b"])

    assert cache.get("a") is None and cache.get("b") is None


def test_the_retry_task_raises_to_be_retried_while_the_cache_fails(monkeypatch):
    monkeypatch.setattr(cache, "delete_many", broken)

    with pytest.raises(CacheUnavailable):
        cache_invalidate.run(["a"])


@pytest.mark.redis
def test_every_redis_client_gives_up_within_a_quarter_second(settings):
    from governance.celery import app

    options = settings.CACHES["default"]["OPTIONS"]
    transport = app.conf.broker_transport_options

    assert options["socket_timeout"] <= 0.25 and options["socket_connect_timeout"] <= 0.25
    assert transport["socket_timeout"] <= 0.25 and transport["socket_connect_timeout"] <= 0.25
    assert app.conf.broker_connection_timeout <= 0.25
    assert app.conf.redis_socket_timeout <= 0.25
    assert app.conf.redis_socket_connect_timeout <= 0.25
    assert app.conf.task_publish_retry_policy["max_retries"] <= 1
