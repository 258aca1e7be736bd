"""Hot reload mid-stream: a new registry version plus a model-updates event switches the results to it
with zero lost posts and no post scored by a half-loaded model; a broken candidate is refused and the
old version keeps serving."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from events.settings import Settings
from tests.integration.consumer.conftest import (
    TinyModels,
    announce,
    create_topics,
    load_predictor,
    metric,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)

MAX_STREAM = 5000


def text_of(i: int) -> str:
    return f"the same words, post {i % 50}"  # repeated content: cache keys matter


def test_new_version_swaps_in_mid_stream_and_a_broken_one_is_refused(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    outputs_of: Callable,
) -> None:
    from model.registry import ModelRegistry

    settings = consumer_settings(model={"poll_interval_s": 600.0})  # only the event can trigger the reload
    create_topics(settings)
    registry = ModelRegistry(Path(settings.model.registry))
    v1 = publish_version(settings, tiny_models, "a")
    reader = outputs_of(settings)

    with running_consumer(settings) as service:
        wait_until(service.ready, 60, "the consumer to be ready")
        assert service.parts.listener.assigned.wait(30)

        # a steady stream; the new version is published in the middle of it, and the stream goes on after
        swapped = threading.Event()
        sent: list[int] = []

        def stream() -> None:
            after_swap = 0
            while after_swap < 10 and len(sent) < MAX_STREAM:
                batch = list(range(len(sent), len(sent) + 10))
                produce(settings, [post(f"s-{i}", text=text_of(i)) for i in batch])
                sent.extend(batch)
                after_swap += swapped.is_set()
                time.sleep(0.05)

        producer = threading.Thread(target=stream)
        producer.start()
        wait_until(lambda: len(reader.poll().results) >= 100, 60, "the stream to flow")
        v2 = publish_version(settings, tiny_models, "b")
        announce(settings, v2)
        wait_until(lambda: metric(service, "modstream_model_version", {"version": v2}) == 1, 30, "the swap")
        swapped.set()
        producer.join()
        wave = len(sent)
        outputs = reader.wait_for(wave, timeout_s=60)

        # a broken candidate: its weights do not match their checksum
        v3 = registry.publish(lambda d: _save_broken(d, tiny_models), make_current=False)
        registry.set_current(v3)
        announce(settings, v3)
        wait_until(
            lambda: metric(service, "modstream_model_loads_total", {"outcome": "refused"}) == 1,
            30,
            "the broken version refused",
        )
        produce(settings, [post(f"after-{i}", text=text_of(i)) for i in range(20)])
        after = reader.wait_for(wave + 20, timeout_s=30)
        assert service.ready()

    results = {pid: rs for pid, rs in outputs.by_post().items() if pid.startswith("s-")}
    assert set(results) == {f"s-{i}" for i in range(wave)} and all(len(r) == 1 for r in results.values())
    versions = [results[f"s-{i}"][0].model_version for i in range(wave)]
    assert set(versions) == {v1, v2}, "the stream did not span the swap"
    # every score is exactly what its version predicts: no post saw a half-loaded model
    for version in (v1, v2):
        predictor = load_predictor(settings, version)
        ids = [i for i in range(wave) if versions[i] == version]
        for start in range(0, len(ids), 64):
            chunk = ids[start : start + 64]
            for i, expected in zip(
                chunk, predictor.predict([(text_of(i), None) for i in chunk]), strict=True
            ):
                scores = results[f"s-{i}"][0].scores
                assert all(abs(scores[k] - v) <= 1e-5 for k, v in expected.scores.items()), (i, version)
    # the cache keys changed with the version: each content's first v2 result was computed, not a v1 hit
    by_text: dict[str, list[bool]] = {}
    for i in range(wave):
        if versions[i] == v2:
            by_text.setdefault(text_of(i), []).append(results[f"s-{i}"][0].cached)
    assert by_text and all(not all(cached) for cached in by_text.values())
    # after the refusal: v2 still serves
    late = [r for r in after.results if r.post_id.startswith("after-")]
    assert len(late) == 20 and {r.model_version for r in late} == {v2}
    assert v3 in service.parts.manager.refused


def _save_broken(directory: Path, tiny: TinyModels) -> None:
    from model.checkpoint import WEIGHTS, save_checkpoint

    save_checkpoint(
        directory,
        tiny.models["a"],
        tokenizer_dir_or_textencoder=tiny.text,
        thresholds={},
        version="broken",
        metrics={},
    )
    weights = directory / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-16:] = bytes(16)  # tampered tensor bytes: the sha256 in metadata.json no longer matches
    weights.write_bytes(bytes(data))
