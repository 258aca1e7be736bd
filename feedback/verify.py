"""Is this decision about what was scored? A feedback event checked against the scored index.

    >>> check("hello", image_sha256=None, scored=index.get("p1"))
    Check(verdict='ok', detail='', text_only=False)

A feedback event carries its own text and image URL: nothing stops it from naming a real post_id and
other content (to teach the model that some chosen text is benign). So the content it carries must be
the content scored under that post_id: its text, and the sha256 of the image bytes the service fetched
for it, hash (events.content) to the result's `content_id`.

    verdict            when                                                       then
    ok                 content_id(text, image) == scored.content_id               stored
    ok, text_only      the post was scored text-only (its image failed or was     stored without the image
                       refused) and content_id(text, None) matches
    not_scored         no result for that post_id has been read                   held, then dead letter
    unverifiable       the result has no content_id (an older consumer)           dead letter
    content_mismatch   anything else (other text, other image bytes, an image     dead letter
                       the service could not fetch)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from events.content import content_id
from feedback.scored import Scored

Verdict = Literal["ok", "not_scored", "unverifiable", "content_mismatch"]


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    detail: str = ""
    text_only: bool = False  # the post was scored on its text alone: store it without the image


def check(text: str | None, *, image_sha256: str | None, scored: Scored | None) -> Check:
    if scored is None:
        return Check("not_scored", "no result has been read for this post_id")
    if scored.content_id is None:
        return Check("unverifiable", f"the result ({scored.model_version}) carries no content_id")
    if content_id(text, image_sha256) == scored.content_id:
        return Check("ok")
    if scored.image_status != "ok" and content_id(text, None) == scored.content_id:
        return Check("ok", text_only=True)
    what = "image" if image_sha256 is not None else "no image"
    return Check(
        "content_mismatch",
        f"text and {what} of this feedback do not hash to the content_id scored for the post "
        f"(image_status there: {scored.image_status})",
    )
