"""The prep pool: one outcome per image, a bomb or a hung decode costs only its worker (replaced at once,
the next images decode), an idle worker's death costs no image, and a pool that cannot start a worker
is dead for the supervisor. Real child processes; nothing else is needed."""

from __future__ import annotations

import io
import os
import queue
import signal
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from consumer.prep_pool import PoolBroken, PrepPool, default_workers
from model.images import DecodeLimits, ImageDecodeError, decode_image_uint8

LIMITS = DecodeLimits(size=64)
MB = 1024 * 1024


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def photo(seed: int) -> bytes:
    """A 1200 x 675 noisy JPEG: what a post carries, decodes in a few MB."""
    rng = np.random.default_rng(seed)
    return _encode(Image.fromarray(rng.integers(0, 255, (675, 1200, 3), dtype=np.uint8)), "JPEG")


def heavy_png() -> bytes:
    """2048 x 2048 RGBA, 21 KB: inside every pixel and ratio limit (4.2 M pixels, under FREE_PIXELS + 100
    per byte), but its decode needs more than 32 MB (measured: refused at 32 MB headroom, decoded at 48)."""
    return _encode(Image.new("RGBA", (2048, 2048), (10, 20, 30, 128)), "PNG")


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def outcome_of(pool: PrepPool, data: bytes) -> np.ndarray | ImageDecodeError:
    try:
        return pool.decode(data, LIMITS, timeout_s=60)
    except ImageDecodeError as exc:
        return exc


def test_images_decode_as_inline_and_errors_keep_their_reason() -> None:
    pool = PrepPool(2, headroom_bytes=256 * MB, task_timeout_s=30.0)
    pool.start()
    try:
        data = photo(1)
        image = pool.decode(data, LIMITS)
        assert image.dtype == np.uint8 and image.shape == (3, 64, 64) and image.flags.writeable
        assert np.array_equal(image, decode_image_uint8(data, size=64))
        for bad, reason in ((b"<html></html>", "not_image"), (data[: len(data) // 3], "truncated")):
            got = outcome_of(pool, bad)
            assert isinstance(got, ImageDecodeError) and got.reason == reason, got
        assert pool.replaced == 0 and pool.live_workers() == 2  # a refusal is not a crash
    finally:
        pool.close()
    assert pool.live_workers() == 0


def test_many_images_at_once_each_get_their_own_outcome() -> None:
    pool = PrepPool(2, headroom_bytes=256 * MB, task_timeout_s=30.0, max_queued=4)
    pool.start()
    inputs = [photo(i) if i % 3 else b"junk" for i in range(12)]
    answers: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()
    try:
        for i, data in enumerate(inputs):
            pool.submit(data, LIMITS, lambda outcome, i=i: answers.put((i, outcome)))
        got = dict(answers.get(timeout=60) for _ in inputs)
    finally:
        pool.close()
    assert sorted(got) == list(range(12))
    for i, data in enumerate(inputs):
        if i % 3:
            assert np.array_equal(got[i], decode_image_uint8(data, size=64))  # type: ignore[arg-type]
        else:
            assert isinstance(got[i], ImageDecodeError)


def test_a_bomb_kills_only_its_worker_which_is_replaced() -> None:
    pool = PrepPool(2, headroom_bytes=16 * MB, task_timeout_s=30.0)
    pool.start()
    try:
        wait_until(lambda: pool.live_workers() == 2, "two workers")
        assert isinstance(outcome_of(pool, photo(1)), np.ndarray)  # 1200 x 675 fits in 16 MB
        bomb = outcome_of(pool, heavy_png())
        assert isinstance(bomb, ImageDecodeError) and bomb.reason == "bomb", bomb
        assert "memory" in bomb.detail
        wait_until(lambda: pool.live_workers() == 2, "the pool back to full size")
        assert pool.replaced == 1 and pool.alive()
        for seed in range(4):  # the next images are decoded as before
            assert np.array_equal(pool.decode(photo(seed), LIMITS), decode_image_uint8(photo(seed), size=64))
    finally:
        pool.close()


def test_the_same_image_decodes_with_the_default_headroom() -> None:
    """The bomb above is a bomb only for the test's tight limit."""
    pool = PrepPool(1, headroom_bytes=1024 * MB, task_timeout_s=30.0)
    pool.start()
    try:
        assert isinstance(outcome_of(pool, heavy_png()), np.ndarray)
    finally:
        pool.close()


def test_a_worker_that_never_answers_is_killed_at_the_deadline_and_fails_only_that_image() -> None:
    pool = PrepPool(1, headroom_bytes=256 * MB, task_timeout_s=1.0)
    pool.start()
    try:
        wait_until(lambda: len(pool.worker_pids()) == 1, "a worker")
        [stuck] = pool.worker_pids()
        os.kill(stuck, signal.SIGSTOP)  # a decode that hangs: the worker is alive and silent
        got = outcome_of(pool, photo(1))
        assert isinstance(got, ImageDecodeError) and got.reason == "timeout", got
        wait_until(lambda: pool.live_workers() == 1, "a replacement")
        assert pool.replaced == 1 and pool.alive() and pool.worker_pids() != [stuck]
        assert isinstance(outcome_of(pool, photo(2)), np.ndarray)
    finally:
        pool.close()


def test_a_worker_killed_while_idle_costs_no_image() -> None:
    pool = PrepPool(1, headroom_bytes=256 * MB, task_timeout_s=30.0)
    pool.start()
    try:
        assert isinstance(outcome_of(pool, photo(1)), np.ndarray)
        pids = pool.worker_pids()
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        wait_until(lambda: _gone(pids[0]), "the worker to die")
        assert isinstance(outcome_of(pool, photo(2)), np.ndarray)  # replaced first, then asked
        assert pool.replaced == 1 and pool.worker_pids() != pids
    finally:
        pool.close()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"  # a zombie until the pool reaps it
    except FileNotFoundError:
        return True


def test_a_pool_that_cannot_start_a_worker_is_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("consumer.prep_pool.sys.executable", "/nonexistent/python")
    pool = PrepPool(1, headroom_bytes=256 * MB, task_timeout_s=1.0, max_start_failures=2)
    pool.start()
    try:
        wait_until(lambda: not pool.alive(), "the pool to give up")
        with pytest.raises(PoolBroken):
            pool.submit(photo(1), LIMITS, lambda _outcome: None)
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("usable", "model_cores", "workers"),
    [(1, 1, 0), (2, 1, 0), (3, 1, 0), (4, 1, 3), (16, 1, 15), (4, 10, 1)],
)
def test_default_workers_leaves_the_model_a_core_and_small_hosts_inline(
    usable: int, model_cores: int, workers: int
) -> None:
    assert default_workers(model_cores, usable=usable) == workers
