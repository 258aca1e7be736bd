"""The feedback trust model on the real broker: content checked against what was scored (held when it
overtakes its result), no future-dated pin, one moderator's flood capped in the retrain, and the live
precision/recall the service serves on /metrics, read over HTTP."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from events.content import content_id, image_digest
from events.dead_letter import parse_dead_letter_headers
from events.kafka import common_config
from events.schemas import LabelScore, Result, encode
from events.settings import Settings
from feedback.service import run_service
from feedback.store import FeedbackStore
from tests.image_server import ImageServer, make_png
from tests.integration.feedback.conftest import (
    TrainerProcess,
    committed_total,
    create_topics,
    feedback,
    produce,
    read_topic,
    stored_ids,
)
from tests.services import free_port

TRUST_ON = {"verify_content": True, "require_moderator": True}


def result(
    post_id: str, text: str | None, image: bytes | None, scores: dict[str, float], version: str = "v1"
) -> tuple[str, bytes]:
    full = {"NotHate": 0.0, "Racist": 0.0, "Sexist": 0.0, "Homophobe": 0.0, "Religion": 0.0, "OtherHate": 0.0}
    full |= scores
    top = sorted(full.items(), key=lambda kv: -kv[1])[:3]
    event = Result(
        post_id=post_id,
        labels=[LabelScore(label=k, score=v) for k, v in top],
        scores=full,
        flagged=any(v >= 0.5 for k, v in full.items() if k != "NotHate"),
        model_version=version,
        image_status="ok" if image is not None else "absent",
        content_id=content_id(text, None if image is None else image_digest(image)),
    )
    return post_id, encode(event)


def publish_results(settings: Settings, items: list[tuple[str, bytes]]) -> None:
    producer = Producer(common_config(settings.kafka) | {"acks": "all", "linger.ms": 5})
    for key, value in items:
        producer.produce(settings.topics.results, key=key, value=value)
    assert producer.flush(30) == 0


def store_rows(settings: Settings) -> dict[str, tuple[list[str], str | None]]:
    path = Path(settings.trainer.data_dir) / "feedback.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        rows = db.execute("SELECT post_id, labels, moderator_id FROM examples")
        return {post_id: (json.loads(labels), moderator) for post_id, labels, moderator in rows}


def test_content_is_verified_mismatch_dead_lettered_early_feedback_held_then_verified(
    make_settings: Callable[..., Settings],
    image_server: ImageServer,
    trainer_processes: list[TrainerProcess],
    tmp_path: Path,
) -> None:
    settings = make_settings(
        fetch={"allow_hosts": [image_server.host]},
        trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9},
        feedback=TRUST_ON | {"hold_max_s": 6.0},
    )
    create_topics(settings)
    png = make_png((10, 200, 30), size=(24, 24))
    image_server.add_bytes("/scored.png", png, "image/png")
    image_server.add_bytes("/other.png", make_png((200, 10, 30), size=(24, 24)), "image/png")
    url, other_url = image_server.url("/scored.png"), image_server.url("/other.png")
    publish_results(
        settings,
        [
            result("good", "the scored text", png, {"Racist": 0.9}),
            result("swapped-text", "the scored text", png, {"Racist": 0.9}),
            result("swapped-image", "the scored text", png, {"Racist": 0.9}),
        ],
    )
    who = {"moderator_id": "alice"}
    produce(
        settings,
        [
            feedback("good", ["Racist"], text="the scored text", image_url=url, **who),
            feedback("swapped-text", [], text="a text the attacker wants to be benign", image_url=url, **who),
            feedback("swapped-image", [], text="the scored text", image_url=other_url, **who),
            feedback("early", ["Sexist"], text="scored later", **who),
            feedback("never", ["Sexist"], text="never scored", **who),
            feedback("anonymous", ["Sexist"], text="the scored text", image_url=url),
        ],
    )
    proc = TrainerProcess(settings, tmp_path / "trainer.log", poll_batch=50)
    trainer_processes.append(proc)
    proc.wait_until(lambda: committed_total(settings) == 6, timeout_s=120, what="all 6 decisions committed")
    assert stored_ids(settings) == {"good"}  # "early" is held, not stored and not rejected

    publish_results(settings, [result("early", "scored later", None, {"Sexist": 0.8})])
    proc.wait_until(lambda: "early" in stored_ids(settings), timeout_s=60, what="the held decision stored")
    letters = read_topic(settings, settings.topics.feedback_dlq, expect=4, timeout_s=60)
    proc.terminate()
    assert proc.wait(30) == 0

    reasons = {m.key(): parse_dead_letter_headers(m.headers()) for m in letters}  # type: ignore[arg-type]
    assert len(letters) == 4
    assert {k: (h["stage"], h["error.type"]) for k, h in reasons.items()} == {
        b"swapped-text": ("verify", "content_mismatch"),
        b"swapped-image": ("verify", "content_mismatch"),
        b"never": ("verify", "not_scored"),  # held past hold_max_s
        b"anonymous": ("validate", "missing_moderator"),
    }
    assert stored_ids(settings) == {"good", "early"}
    assert store_rows(settings)["early"] == (["Sexist"], "alice")


def test_a_future_dated_decision_does_not_pin_the_label(
    make_settings: Callable[..., Settings], trainer_processes: list[TrainerProcess], tmp_path: Path
) -> None:
    settings = make_settings(
        trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9}, feedback=TRUST_ON
    )
    create_topics(settings)
    publish_results(settings, [result("p", "some post", None, {"Racist": 0.9})])
    produce(
        settings,
        [
            feedback(
                "p", ["Racist"], text="some post", moderator_id="mallory", decided_at="2099-01-01T00:00:00Z"
            )
        ],
    )
    proc = TrainerProcess(settings, tmp_path / "trainer.log", poll_batch=50)
    trainer_processes.append(proc)
    proc.wait_until(lambda: "p" in stored_ids(settings), timeout_s=120, what="the first decision stored")
    time.sleep(0.05)  # the correction is decided (and produced) after the first was
    now = datetime.now(UTC).isoformat()
    produce(settings, [feedback("p", [], text="some post", moderator_id="mallory", decided_at=now)])
    proc.wait_until(lambda: store_rows(settings)["p"][0] == [], timeout_s=60, what="the correction to win")
    proc.terminate()
    assert proc.wait(30) == 0
    assert committed_total(settings) == 2


def test_one_moderators_flood_is_capped_in_the_retrain(make_settings: Callable[..., Settings]) -> None:
    flood = [feedback(f"m{i:03d}", ["Racist"], text=f"flood {i}", moderator_id="mallory") for i in range(301)]
    honest = [
        feedback(
            f"h{i:03d}", ["Sexist" if i % 2 else "Religion"], text=f"honest {i}", moderator_id=f"mod{i % 4}"
        )
        for i in range(120)
    ]
    moderator_of = {key: json.loads(value)["moderator_id"] for key, value in flood + honest}
    settings = make_settings(
        # the trigger counts what a retrain would use: 120 honest + 40 of the flood, once all have arrived
        trainer={"preset": "tiny", "retrain_min_examples": 160, "retrain_interval_s": 1e9},
        feedback={"verify_content": False, "require_moderator": True, "moderator_max_share": 0.25},
    )
    create_topics(settings)
    produce(settings, honest[:60] + flood + honest[60:])

    options: dict[str, Any] = {"epochs": 1}
    assert run_service(settings, stop_after_trainings=1, max_idle_s=120, train_options=options) == 0

    runs = list((Path(settings.trainer.data_dir) / "training").iterdir())
    assert len(runs) == 1
    snapshot = json.loads((runs[0] / "dataset.json").read_text())
    per_moderator = Counter(moderator_of[row[0]] for row in snapshot["examples"])
    print("examples per moderator in the retrain:", dict(per_moderator))
    assert per_moderator == {"mallory": 40, "mod0": 30, "mod1": 30, "mod2": 30, "mod3": 30}
    assert per_moderator["mallory"] <= 0.25 * sum(per_moderator.values())
    # the rest of the flood is held back, not dropped: stored, and new for the next retrain
    assert committed_total(settings) == 421
    store = FeedbackStore.open(Path(settings.trainer.data_dir), now=0.0)
    try:
        assert len(store) == 421
        assert store.count_new_since(store.training_state().last_trained_seq) == 261
    finally:
        store.close()


def scrape(port: int) -> dict[tuple[str, str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("modstream_feedback_precision", "modstream_feedback_recall"):
                out[(sample.name, sample.labels["model_version"], sample.labels["label"])] = sample.value
    return out


def test_live_precision_and_recall_on_metrics(
    make_settings: Callable[..., Settings], trainer_processes: list[TrainerProcess], tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(
        trainer={"retrain_min_examples": 100_000, "retrain_interval_s": 1e9},
        feedback=TRUST_ON | {"metrics_host": "127.0.0.1", "metrics_port": port},
    )
    create_topics(settings)
    # (post, Racist score, the moderators' truth): version vA is right 3 times, flags one benign post
    # and misses two: Racist precision 3/4, recall 3/5. Version vB: one Sexist post, right.
    cases = [
        ("a", 0.9, ["Racist"]),
        ("b", 0.8, []),
        ("c", 0.2, ["Racist"]),
        ("d", 0.9, ["Racist"]),
        ("e", 0.7, ["Racist"]),
        ("f", 0.1, ["Racist"]),
        ("g", 0.1, ["NotHate"]),
    ]
    results = [result(p, f"post {p}", None, {"Racist": s}, version="vA") for p, s, _ in cases]
    results.append(result("s", "post s", None, {"Sexist": 0.9}, version="vB"))
    publish_results(settings, results)
    decisions = [feedback(p, truth, text=f"post {p}", moderator_id="alice") for p, _, truth in cases]
    decisions.append(feedback("s", ["Sexist"], text="post s", moderator_id="bob"))
    produce(settings, decisions)

    proc = TrainerProcess(settings, tmp_path / "trainer.log", poll_batch=50)
    trainer_processes.append(proc)
    proc.wait_until(lambda: len(stored_ids(settings)) == 8, timeout_s=120, what="8 decisions stored")
    got = scrape(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
    proc.terminate()
    assert proc.wait(30) == 0
    print("live metrics:", got)
    assert got[("modstream_feedback_precision", "vA", "Racist")] == 0.75
    assert got[("modstream_feedback_recall", "vA", "Racist")] == 0.6
    assert got[("modstream_feedback_precision", "vA", "flagged")] == 0.75
    assert got[("modstream_feedback_recall", "vA", "flagged")] == 0.6
    assert got[("modstream_feedback_precision", "vB", "Sexist")] == 1.0
    assert got[("modstream_feedback_recall", "vB", "Sexist")] == 1.0
    assert ("modstream_feedback_precision", "vA", "Sexist") not in got  # no data is not 0
