"""Redis AUTH: a Redis of the test's own that requires a password (as compose runs it), reached with the
password as a setting of its own or in the URL; without it, the cache fails open (all misses)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from pydantic import SecretStr

from consumer.cache import make_cache
from events.settings import RedisSettings
from tests.services import free_port

PASSWORD = "s3cret-for-this-test"


@pytest.fixture
def private_redis() -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (the CI image has it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, password=PASSWORD, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("where", ["setting", "url"])
def test_a_password_protected_redis_is_used(private_redis: int, where: str) -> None:
    if where == "setting":
        settings = RedisSettings(url=f"redis://127.0.0.1:{private_redis}/0", password=SecretStr(PASSWORD))
    else:
        settings = RedisSettings(url=f"redis://:{PASSWORD}@127.0.0.1:{private_redis}/0")
    cache = make_cache(settings)
    try:
        cache.set_many([("k", b"v")])
        assert cache.get_many(["k"]) == [b"v"]
    finally:
        cache.close()


def test_without_the_password_every_lookup_is_a_miss(private_redis: int) -> None:
    errors: list[Exception] = []
    cache = make_cache(RedisSettings(url=f"redis://127.0.0.1:{private_redis}/0"), on_error=errors.append)
    try:
        redis.Redis(port=private_redis, password=PASSWORD).set("k", b"v")
        assert cache.get_many(["k"]) == [None]
        assert errors and isinstance(errors[0], redis.AuthenticationError | redis.ResponseError)
    finally:
        cache.close()
