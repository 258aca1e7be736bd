"""Images prepared in the prep pool's worker processes score exactly as images prepared inline, alone
or in a batch: the uint8 path (decode in a process, normalise at the model) changes no score."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from consumer.prep_pool import PrepPool
from model.checkpoint import Checkpoint
from model.images import decode_image
from model.predictor import Predictor
from model.preprocess import PreparedPost
from tests.unit.model import imagekit as kit

POSTS: list[tuple[str | None, bytes | None]] = [
    ("a short post", kit.jpeg_rgb()),
    (None, kit.png_palette_transparent()),
    ("much longer text about many things " * 10, kit.jpeg_exif_rotated()),
    ("only text here", None),
    ("grey and sixteen bits", kit.png_16bit_gray()),
    (None, kit.gif_animated()),
    ("cmyk", kit.jpeg_cmyk()),
    ("noise", kit.noisy_jpeg()),
]


@pytest.fixture(scope="module")
def pool() -> Iterator[PrepPool]:
    pool = PrepPool(2, headroom_bytes=512 * 1024 * 1024, task_timeout_s=30.0)
    pool.start()
    yield pool
    pool.close()


def _scores(predictor: Predictor, prepared: list[PreparedPost]) -> torch.Tensor:
    return torch.tensor([list(p.scores.values()) for p in predictor.predict_prepared(prepared)])


def test_pool_and_inline_preparation_give_the_same_scores(
    tiny_checkpoint: Checkpoint, pool: PrepPool
) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    inline = [predictor.prepare(text, image) for text, image in POSTS]
    pooled = [
        predictor.prepare_decoded(
            text, None if image is None else pool.decode(image, predictor.decode_limits)
        )
        for text, image in POSTS
    ]
    for a, b in zip(inline, pooled, strict=True):
        assert a.token_ids == b.token_ids
        assert (a.image is None) == (b.image is None)
        if a.image is not None and b.image is not None:
            assert a.image.dtype == b.image.dtype == torch.uint8
            assert torch.equal(a.image, b.image)  # the same bytes, decoded in another process
    batch_inline, batch_pooled = _scores(predictor, inline), _scores(predictor, pooled)
    assert torch.allclose(batch_inline, batch_pooled, atol=1e-5, rtol=0)
    # batch invariance on the pooled path: each post alone scores as it does among the others
    alone = torch.cat([_scores(predictor, [post]) for post in pooled])
    diff = (alone - batch_pooled).abs().max().item()
    assert diff <= 1e-5, diff


def test_uint8_normalised_at_the_model_matches_the_float_decode(tiny_checkpoint: Checkpoint) -> None:
    """The trainer still builds float PreparedPosts with decode_image; both forms score alike."""
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    text_ids = predictor.prepare_text("words")
    as_float = [PreparedPost(text_ids, decode_image(image)) for _, image in POSTS if image is not None]
    as_uint8 = [predictor.prepare("words", image) for _, image in POSTS if image is not None]
    assert all(p.image is not None and p.image.dtype == torch.uint8 for p in as_uint8)
    diff = (_scores(predictor, as_float) - _scores(predictor, as_uint8)).abs().max().item()
    assert diff <= 1e-5, diff


def test_one_tokenizer_call_gives_each_text_the_ids_it_gets_alone(tiny_checkpoint: Checkpoint) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    image = predictor.prepare_image(kit.jpeg_rgb())
    items = [(text, image if text is None else None) for text, _ in POSTS] + [("   ", image)]
    together = predictor.prepare_decoded_many(items)
    alone = [predictor.prepare_decoded(text, img) for text, img in items]
    assert [p.token_ids for p in together] == [p.token_ids for p in alone]
    assert together[-1].token_ids is None  # blank text is no text, as in prepare
    long = next(p for p in together if p.token_ids is not None and len(p.token_ids) > 60)
    assert len(long.token_ids or []) <= tiny_checkpoint.config.max_length  # truncated per text
