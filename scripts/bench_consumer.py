"""The consumer under test in a process of its own, as it runs in production, and the watcher of its
results and dead letters. The consumer runs apart because the bench's producer and result watcher must
not share its GIL, or the figures measure the harness as much as the consumer.

    with ConsumerProcess(settings) as consumer:    # `python scripts/bench_consumer.py SETTINGS.json`
        consumer.command("noop")                   # swap the serving network for NoOpNetwork
        consumer.command("version")                # -> the model version serving

Commands go to the child's stdin and each is answered by one line on its stdout: `version`, `noop`,
`no-feature-cache` (the predictor's image feature cache off), `forwards` (image-tower forwards so far),
`stop` (drain and exit). Settings travel as JSON in a file; the Redis signing key, which JSON dumps mask,
in the environment.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, TopicPartition

from events.dead_letter import parse_dead_letter_headers
from events.kafka import common_config
from events.settings import Settings

_KEY_ENV = "BENCH_REDIS_SIGNING_KEY"


class NoOpNetwork:
    """Stands in for the serving network (the three calls Predictor._forward makes): zero features, zero
    logits, no compute. Everything around it stays real."""

    def __init__(self, labels: int) -> None:
        self.labels = labels

    def encode_images(self, images: Any) -> Any:
        import torch

        return torch.zeros(images.shape[0], 1)  # (N, 1): one zero feature per image

    def encode_texts(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        return torch.zeros(input_ids.shape[0], 1)

    def head(self, image_feats: Any, text_feats: Any, has_image: Any, has_text: Any) -> Any:
        import torch

        return torch.zeros(has_image.shape[0], self.labels)  # (B, L): one row per post


class ResultWatcher:
    """Reads the results and dead-letter topics from the start in a thread: post_id -> (result timestamp
    ms). A measured post that is dead-lettered ends the wait at once with its reason (a broken bench
    must fail, not wait out the timeout)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: dict[str, int] = {}
        self._values: dict[str, bytes] = {}  # post_id -> result JSON, parsed after the measurement
        self.dead: dict[str, str] = {}  # post_id -> "stage/reason" of its dead letter
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        topics = [self.settings.topics.results, self.settings.topics.dlq]
        c = Consumer(
            common_config(self.settings.kafka) | {"group.id": "bench-watch", "enable.auto.commit": False}
        )
        meta = c.list_topics(timeout=10).topics
        c.assign([TopicPartition(t, p, 0) for t in topics for p in meta[t].partitions])
        while not self._stop.is_set():
            for msg in c.consume(500, 0.05):
                key = msg.key()
                if msg.error() is not None or key is None:
                    continue
                if msg.topic() == self.settings.topics.dlq:
                    raw = msg.headers() or []
                    pairs = raw.items() if isinstance(raw, dict) else raw
                    h = parse_dead_letter_headers([(k, v) for k, v in pairs if isinstance(v, bytes)])
                    with self._lock:
                        self.dead[key.decode()] = f"{h.get('stage')}/{h.get('error.type')}"
                    continue
                with self._lock:  # no parsing here: this thread shares the GIL with the consumer measured
                    self.seen[key.decode()] = msg.timestamp()[1]
                    self._values[key.decode()] = msg.value() or b"{}"
        c.close()

    def wait_for(self, keys: Sequence[str], timeout_s: float) -> dict[str, int]:
        deadline = time.monotonic() + timeout_s
        pending = list(keys)  # shrinks as results arrive: the wait costs little of the measured CPU
        while time.monotonic() < deadline:
            with self._lock:
                pending = [k for k in pending if k not in self.seen]
                dead = {k: self.dead[k] for k in pending if k in self.dead}
                if dead:
                    key, why = next(iter(dead.items()))
                    raise RuntimeError(f"{len(dead)} measured posts dead-lettered, e.g. {key}: {why}")
                if not pending:
                    return {k: self.seen[k] for k in keys}
            time.sleep(0.05)  # the figures come from broker timestamps, not from when this notices
        raise TimeoutError(f"{len(pending)} of {len(keys)} results missing after {timeout_s}s")

    def outcome(self, key: str) -> tuple[str, bool]:
        """(image_status, cached) of the result for post `key`."""
        with self._lock:
            body = json.loads(self._values[key])
        return body["image_status"], body["cached"]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


class ConsumerProcess:
    """`scripts/bench_consumer.py` as a child process, started on enter and stopped (drained) on exit."""

    def __init__(self, settings: Settings) -> None:
        self._file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(settings.model_dump(mode="json"), self._file)
        self._file.close()
        env = dict(os.environ)
        key = settings.redis.signing_key
        if key is not None:
            env[_KEY_ENV] = key.get_secret_value()
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self._file.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lock = threading.Lock()

    def __enter__(self) -> ConsumerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.command("stop")
            self._proc.wait(60)
        except Exception:
            self._proc.kill()
            self._proc.wait(10)
        finally:
            Path(self._file.name).unlink(missing_ok=True)

    def command(self, line: str) -> str:
        with self._lock:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"the bench consumer answered {answer!r} to {line!r}")
        return answer


def _serve(settings_file: str) -> int:
    from pydantic import SecretStr

    from consumer.service import ConsumerService
    from model.feature_cache import FeatureCache

    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))
    settings = Settings(_env_file=None, **json.loads(Path(settings_file).read_text()))
    if os.environ.get(_KEY_ENV):
        redis = settings.redis.model_copy(update={"signing_key": SecretStr(os.environ[_KEY_ENV])})
        settings = settings.model_copy(update={"redis": redis})
    service = ConsumerService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()

    def predictor() -> Any:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if service._parts is not None and service.parts.manager.current is not None:
                return service.parts.manager.current
            time.sleep(0.05)
        raise TimeoutError("no model serving after 300 s")

    for line in sys.stdin:
        command = line.strip()
        try:
            if command == "stop":
                break
            if command == "version":
                answer = predictor().version
            elif command == "noop":
                current = predictor()
                current.model = NoOpNetwork(len(current.labels))
                answer = "ok"
            elif command == "no-feature-cache":
                predictor().features = FeatureCache(0)
                answer = "ok"
            elif command == "forwards":
                answer = str(predictor().image_forwards)
            else:
                answer = f"error unknown command {command!r}"
        except Exception as exc:
            answer = f"error {type(exc).__name__}: {exc}"
        print(answer, flush=True)
    service.stop("benchmark done")
    thread.join(60)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
