"""A pool of image-preparation worker PROCESSES: image bytes in, (3, S, S) uint8 out, one outcome per image.

    >>> pool = PrepPool(workers=4, headroom_bytes=1 << 30, task_timeout_s=10.0)
    >>> pool.start()
    >>> pool.submit(jpeg_bytes, DecodeLimits(size=224), done=on_decoded)  # ndarray or ImageDecodeError
    >>> pool.decode(png_bytes, DecodeLimits(size=224))                    # blocking: ndarray or raises

Decoding runs in processes, not threads, for two reasons: Pillow's resize and PNG inflate hold the GIL
for long stretches (threads would not scale past one core), and a decompression bomb must cost only a
process, never the consumer. Each worker has a memory limit (`consumer.prep_process`); one that dies or
runs past `task_timeout_s` is killed, its one image gets `bomb` / `worker_died` / `timeout`, and a fresh
worker takes its place at once. Nothing else is disturbed: every worker has its own pipe and its own
parent thread, and only the image it held fails.

    tasks (bounded) ──► slot thread 0 ──pipe──► worker process 0      (replaced when it dies)
                    ──► slot thread 1 ──pipe──► worker process 1
                    ...

`alive()` is what the consumer's supervisor watches: False once a worker could not be started again
(`max_start_failures` attempts in a row) or a slot thread died. A dead worker is not a dead stage; a
pool that cannot replace one is.

Workers are plain subprocesses (`python -m consumer.prep_process`, numpy and Pillow, no torch): they
never inherit the consumer's threads or its model, and a replacement starts in well under a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from consumer.prep_process import OK, REPLY, pack_request
from events.settings import PrepSettings
from model.images import DecodeLimits, ImageDecodeError

log = logging.getLogger(__name__)

Decoded = np.ndarray | ImageDecodeError
_POLL_S = 0.05  # how often a slot thread checks its worker while waiting for an answer


@dataclass
class _Task:
    data: bytes
    limits: DecodeLimits
    done: Callable[[Decoded], None]


# Below this many usable cores the default is inline preparation (see default_workers).
MIN_POOL_CORES = 4


def default_workers(model_cores: int = 1, *, usable: int | None = None) -> int:
    """The cores this process may use that the model does not need; 0 (inline) below MIN_POOL_CORES.

    On a small host the model, the poll loop and the prep thread already share every core, and the pool's
    round trip costs more than it frees: on 2 shared cores the `c_stream` bench measured 80.4 posts/s with
    one worker against 136.8 inline. The pool pays off where spare cores exist (a GPU host)."""
    if usable is None:
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = os.cpu_count() or 1
    if usable < MIN_POOL_CORES:
        return 0
    return max(1, usable - model_cores)


def pool_from_settings(settings: PrepSettings) -> PrepPool | None:
    """The consumer's pool (not started), or None for inline preparation (`workers` = 0)."""
    workers = default_workers() if settings.workers is None else settings.workers
    if workers == 0:
        return None
    return PrepPool(
        workers,
        headroom_bytes=settings.worker_memory_mb * 1024 * 1024,
        task_timeout_s=settings.task_timeout_s,
    )


class PoolBroken(RuntimeError):
    """The pool could not replace a worker; nothing more is decoded."""


class PrepPool:
    """`workers` processes, each with a parent thread that hands it one image at a time."""

    def __init__(
        self,
        workers: int,
        *,
        headroom_bytes: int,
        task_timeout_s: float,
        max_queued: int | None = None,
        max_start_failures: int = 5,
    ) -> None:
        if workers < 1:
            raise ValueError("a prep pool needs at least one worker (0 = prepare inline, no pool)")
        self.workers = workers
        self._headroom = headroom_bytes
        self._timeout_s = task_timeout_s
        self._max_start_failures = max_start_failures
        self._tasks: queue.Queue[_Task | None] = queue.Queue(maxsize=max_queued or workers * 8)
        self._lock = threading.Lock()
        self._live: set[int] = set()  # slots whose worker process is running
        self._pids: dict[int, int] = {}  # slot -> its worker's pid
        self._workers: dict[int, _Worker] = {}  # slot -> its worker, for the watchdog
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="prep-pool-watchdog", daemon=True)
        self._broken: str | None = None
        self._next_id = 0
        self._started = False
        self.replaced = 0  # workers that died or were killed and were started again
        self._threads = [
            threading.Thread(target=self._slot, args=(i,), name=f"prep-pool-{i}", daemon=True)
            for i in range(workers)
        ]

    # -- the caller's side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._started = True
        for thread in self._threads:
            thread.start()
        self._watchdog.start()

    def submit(self, data: bytes, limits: DecodeLimits, done: Callable[[Decoded], None]) -> None:
        """Queue one image; `done` is called once, from a pool thread, with the array or the error. Blocks
        while the queue is full (the bound); raises PoolBroken when the pool can no longer decode."""
        while True:
            if self._broken is not None:
                raise PoolBroken(self._broken)
            try:
                self._tasks.put(_Task(data, limits, done), timeout=0.5)
                return
            except queue.Full:
                continue

    def decode(self, data: bytes, limits: DecodeLimits, timeout_s: float | None = None) -> np.ndarray:
        """Blocking form of `submit`: the (3, S, S) uint8 array, or raises ImageDecodeError."""
        box: queue.SimpleQueue[Decoded] = queue.SimpleQueue()
        self.submit(data, limits, box.put)
        try:
            outcome = box.get(timeout=timeout_s if timeout_s is not None else self._timeout_s * 2 + 30)
        except queue.Empty:
            raise ImageDecodeError("timeout", "no answer from the prep pool") from None
        if isinstance(outcome, ImageDecodeError):
            raise outcome
        return outcome

    def alive(self) -> bool:
        threads = [*self._threads, self._watchdog]
        return self._broken is None and (not self._started or all(t.is_alive() for t in threads))

    def live_workers(self) -> int:
        with self._lock:
            return len(self._live)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return sorted(self._pids.values())

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking images, let the queued ones finish, and stop every worker."""
        if not self._started:
            return
        for _ in self._threads:
            try:
                self._tasks.put(None, timeout=timeout_s)
            except queue.Full:
                break
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._stopping.set()

    def _watch(self) -> None:
        """Kill every worker still holding a task past its deadline (one thread for the pool: starting a
        timer per image would cost a thread handoff per image)."""
        while not self._stopping.wait(_POLL_S):
            now = time.monotonic()
            with self._lock:
                late = [w for w in self._workers.values() if w.deadline is not None and w.deadline < now]
            for worker in late:
                worker.expire()

    # -- one slot: a parent thread and its worker process -----------------------------------------------
    def _slot(self, index: int) -> None:
        worker = self._start_worker(index)
        try:
            while worker is not None:
                task = self._tasks.get()
                if task is None:
                    return
                # died while idle (the OOM killer, a signal): not this image's fault, so replace it first
                if worker.process.poll() is not None:
                    self._discard(index, worker)
                    worker = self._start_worker(index)
                    if worker is None:
                        _hand(task, ImageDecodeError("worker_died", "the prep pool is broken"))
                        return
                outcome, healthy = self._ask(worker, task)
                if healthy:
                    _hand(task, outcome)
                    continue
                self._discard(index, worker)  # first, so that the caller sees the pool short of one
                _hand(task, outcome)
                worker = self._start_worker(index)
        finally:
            if worker is not None:
                self._stop_worker(index, worker, kill=False)

    def _discard(self, index: int, worker: _Worker) -> None:
        self._stop_worker(index, worker, kill=True)
        with self._lock:
            self.replaced += 1

    def _start_worker(self, index: int) -> _Worker | None:
        for attempt in range(1, self._max_start_failures + 1):
            try:
                worker = _Worker.start(index, self._headroom)
                with self._lock:
                    self._live.add(index)
                    self._pids[index] = worker.process.pid
                    self._workers[index] = worker
                return worker
            except Exception:
                log.exception("starting prep worker %d failed (attempt %d)", index, attempt)
                time.sleep(min(2.0, 0.1 * 2**attempt))
        self._broken = f"prep worker {index} could not be started {self._max_start_failures} times in a row"
        log.error("%s: the prep pool is broken", self._broken)
        return None

    def _stop_worker(self, index: int, worker: _Worker, *, kill: bool) -> None:
        with self._lock:
            self._live.discard(index)
            self._pids.pop(index, None)
            self._workers.pop(index, None)
        worker.stop(kill=kill)

    def _ask(self, worker: _Worker, task: _Task) -> tuple[Decoded, bool]:
        """(outcome, worker still usable). Every wait ends by `task_timeout_s`."""
        with self._lock:
            self._next_id += 1
            task_id = self._next_id
        size = task.limits.size
        timed_out = ImageDecodeError("timeout", f"no decode within {self._timeout_s:g}s")
        # The watchdog thread kills a worker still busy at the deadline: that ends a blocked send (a silent
        # worker stops reading; an image is larger than the pipe's buffer) and a half-sent answer alike.
        worker.deadline = time.monotonic() + self._timeout_s
        try:
            worker.requests.send_bytes(pack_request(task_id, task.limits))
            worker.requests.send_bytes(task.data)
            while not worker.replies.poll(_POLL_S):
                if worker.expired:
                    return timed_out, False
                if worker.process.poll() is not None and not worker.replies.poll(0):
                    return worker.died(), False
            answer = worker.replies.recv_bytes(REPLY.size + max(3 * size * size, 1024))
        except (EOFError, OSError):  # a closed pipe, or an answer longer than any answer may be
            return (timed_out if worker.expired else worker.died()), False
        finally:
            worker.deadline = None
        if len(answer) < REPLY.size:
            return ImageDecodeError("worker_died", "prep worker sent a short answer"), False
        answer_id, status = REPLY.unpack_from(answer)
        body = answer[REPLY.size :]
        if answer_id != task_id:
            return ImageDecodeError("worker_died", "prep worker answered another task"), False
        if status == OK:
            if len(body) != 3 * size * size:
                return ImageDecodeError("worker_died", f"prep worker sent {len(body)} bytes"), False
            return np.frombuffer(bytearray(body), dtype=np.uint8).reshape(3, size, size), True  # writable
        reason, _, detail = body.decode("utf-8", "replace").partition("\0")
        reason = reason if reason.isidentifier() and len(reason) <= 32 else "undecodable"
        return ImageDecodeError(reason, detail), reason != "bomb"  # after a bomb the worker exits


@dataclass
class _Worker:
    """One child process and the two pipes to it (requests in, replies out)."""

    process: subprocess.Popen[bytes]
    requests: Connection
    replies: Connection
    expired: bool = False  # the watchdog killed it at a task's deadline
    deadline: float | None = None  # monotonic; set while it holds a task

    def expire(self) -> None:
        self.expired = True
        with contextlib.suppress(OSError):
            self.process.kill()

    @classmethod
    def start(cls, index: int, headroom_bytes: int) -> _Worker:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        env = dict(os.environ)
        # the child imports `consumer` and `model` the way this process found them
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "consumer.prep_process",
                    str(request_r),
                    str(reply_w),
                    str(headroom_bytes),
                ],
                pass_fds=(request_r, reply_w),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except BaseException:
            for fd in (request_r, request_w, reply_r, reply_w):
                os.close(fd)
            raise
        os.close(request_r)
        os.close(reply_w)
        log.debug("prep worker %d started, pid %d", index, process.pid)
        return cls(process, Connection(request_w, readable=False), Connection(reply_r, writable=False))

    def died(self) -> ImageDecodeError:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        return ImageDecodeError("worker_died", f"prep worker exited with code {code}")

    def stop(self, *, kill: bool) -> None:
        self.requests.close()  # EOF: an idle worker returns at once
        if not kill:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2.0)
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            log.error("prep worker pid %d did not exit after SIGKILL", self.process.pid)
        self.replies.close()


def _hand(task: _Task, outcome: Decoded) -> None:
    try:
        task.done(outcome)
    except Exception:  # the caller's callback must not cost the pool a slot
        log.exception("a prep pool callback raised")
