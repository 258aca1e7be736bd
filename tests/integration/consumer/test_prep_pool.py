"""Images prepared in the prep pool, through the real consumer on the real broker: an image that needs more
memory than a prep worker may use kills only that worker. Its post is scored text-only (`failed`), or
dead-lettered when it has no text; the posts after it are scored with their images; the pool is back to
full size; the consumer stays healthy."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image

from events.settings import Settings
from tests.image_server import ImageServer, make_jpeg, make_png
from tests.integration.consumer.conftest import (
    TinyModels,
    create_topics,
    post,
    produce,
    publish_version,
    running_consumer,
    wait_until,
)

WORKERS = 2


def heavy_png() -> bytes:
    """2048 x 2048 RGBA, 21 KB: within every pixel and ratio limit, but its decode needs more than 32 MB
    (tests/unit/consumer/test_prep_pool.py shows it decodes with the default limit)."""
    buf = io.BytesIO()
    Image.new("RGBA", (2048, 2048), (10, 20, 30, 128)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_bomb_costs_one_worker_and_one_image_nothing_else(
    consumer_settings: Callable[..., Settings],
    tiny_models: TinyModels,
    image_server: ImageServer,
    outputs_of: Callable,
) -> None:
    image_server.add_bytes("/heavy.png", heavy_png(), "image/png")
    colours = ["red", "green", "blue", "white", "black", "yellow"]
    for i, colour in enumerate(colours):
        image_server.add_bytes(f"/ok-{i}.jpg", make_jpeg(colour, (500, 500)), "image/jpeg")
        image_server.add_bytes(f"/ok-{i}.png", make_png(colour, (300, 200)), "image/png")
    settings = consumer_settings(prep={"workers": WORKERS, "worker_memory_mb": 16})
    create_topics(settings)
    publish_version(settings, tiny_models, "a")
    before = [
        post(f"before-{i}", text=f"post {i}", image_url=image_server.url(f"/ok-{i}.jpg")) for i in range(6)
    ]
    bombs = [
        post("bomb-with-text", text="look at this", image_url=image_server.url("/heavy.png")),
        post("bomb-only", image_url=image_server.url("/heavy.png")),
    ]
    after = [post(f"after-{i}", image_url=image_server.url(f"/ok-{i}.png")) for i in range(6)]

    reader = outputs_of(settings)
    with running_consumer(settings) as service:
        produce(settings, before)
        reader.wait_for(len(before), timeout_s=60, settle_s=0.0)
        produce(settings, bombs)
        reader.wait_for(len(before) + len(bombs), timeout_s=60, settle_s=0.0)
        produce(settings, after)
        outputs = reader.wait_for(len(before) + len(bombs) + len(after), timeout_s=60, settle_s=1.0)
        pool = service.parts.pool
        assert pool is not None and pool.workers == WORKERS
        wait_until(lambda: pool.live_workers() == WORKERS, 30, "the pool back to full size")
        assert pool.replaced == 2  # one worker per bomb, no other
        assert pool.alive() and service.ready() and service.exit_code == 0

    results, dead = outputs.by_post(), outputs.dead_by_key()
    assert results["bomb-with-text"][0].image_status == "failed"
    assert "bomb-only" not in results
    [letter] = dead["bomb-only"]
    assert (letter.headers.get("stage"), letter.headers.get("error.type")) == ("decode", "bomb")
    for key, _ in before + after:
        assert len(results.get(key, [])) == 1 and key not in dead, key
        assert results[key][0].image_status == "ok", key
    assert service.exit_code == 0
