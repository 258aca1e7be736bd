"""Live precision/recall: counts per version and label over a sliding window, with a fake clock."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from feedback.ingest import Judged
from feedback.quality import FLAGGED, Counts, QualityCollector, QualityWindow
from feedback.scored import Scored


def judged(post_id: str, truth: list[str], scores: dict[str, float], version: str = "v1") -> Judged:
    flagged = any(s >= 0.5 for label, s in scores.items() if label != "NotHate")
    full = {"NotHate": 0.0, "Racist": 0.0, "Sexist": 0.0} | scores
    return Judged(post_id, tuple(truth), Scored(post_id, None, full, flagged, version, "ok"))


def window(now: list[float], **options: float) -> QualityWindow:
    return QualityWindow(
        window_s=options.get("window_s", 100.0),
        max_judged=int(options.get("max_judged", 1000)),
        clock=lambda: now[0],
        thresholds=lambda version: {"Racist": 0.7} if version == "v2" else {},
    )


def test_counts_per_label_and_version() -> None:
    now = [0.0]
    w = window(now)
    w.add(
        [
            judged("a", ["Racist"], {"Racist": 0.9}),  # tp Racist, tp flagged
            judged("b", [], {"Racist": 0.8}),  # fp Racist, fp flagged
            judged("c", ["Racist"], {"Racist": 0.1}),  # fn Racist, fn flagged
            judged("d", ["Sexist"], {"Racist": 0.6, "Sexist": 0.2}),  # fp Racist, fn Sexist, tp flagged
            judged("e", ["NotHate"], {"Racist": 0.1}),  # a true negative: nothing
            judged("f", ["Racist"], {"Racist": 0.6}, version="v2"),  # below v2's threshold 0.7: fn
        ],
        benign_label="NotHate",
    )
    counts = w.counts()
    assert counts[("v1", "Racist")] == Counts(tp=1, fp=2, fn=1)
    assert counts[("v1", "Sexist")] == Counts(tp=0, fp=0, fn=1)
    assert counts[("v1", FLAGGED)] == Counts(tp=2, fp=1, fn=1)
    assert counts[("v2", "Racist")] == Counts(tp=0, fp=0, fn=1)
    assert counts[("v2", FLAGGED)] == Counts(tp=1, fp=0, fn=0)
    assert ("v1", "NotHate") not in counts


def test_a_later_decision_replaces_and_the_window_slides() -> None:
    now = [0.0]
    w = window(now)
    w.add([judged("a", [], {"Racist": 0.9})], benign_label="NotHate")
    now[0] = 50.0
    w.add(
        [judged("a", ["Racist"], {"Racist": 0.9}), judged("b", ["Racist"], {"Racist": 0.9})],
        benign_label="NotHate",
    )
    assert w.counts()[("v1", "Racist")] == Counts(tp=2)
    now[0] = 149.0
    assert w.counts()[("v1", "Racist")] == Counts(tp=2)
    now[0] = 151.0
    assert w.counts() == {}


def test_bounded_in_posts() -> None:
    now = [0.0]
    w = window(now, max_judged=3)
    w.add([judged(f"p{i}", ["Racist"], {"Racist": 0.9}) for i in range(10)], benign_label="NotHate")
    assert w.counts()[("v1", "Racist")] == Counts(tp=3)


def test_exported_for_prometheus() -> None:
    now = [0.0]
    w = window(now)
    w.add(
        [
            judged("a", ["Racist"], {"Racist": 0.9}),
            judged("b", [], {"Racist": 0.9}),
            judged("c", ["Racist"], {}),
        ],
        benign_label="NotHate",
    )
    registry = CollectorRegistry()
    registry.register(QualityCollector(w))
    text = generate_latest(registry).decode()
    assert 'modstream_feedback_precision{label="Racist",model_version="v1"} 0.5' in text
    assert 'modstream_feedback_recall{label="Racist",model_version="v1"} 0.5' in text
    assert 'modstream_feedback_judged{label="Racist",model_version="v1",outcome="fp"} 1.0' in text
    assert 'label="Sexist"' not in text  # no data is not 0
