"""Errors shared by the services through the wire contract (the consumer and the trainer never import each
other, so what both raise lives here).

    >>> raise DeliveryFailed("MSG_TIMED_OUT: no ack in 30 s", reason="msg_timed_out")
"""

from __future__ import annotations


class DeliveryFailed(RuntimeError):
    """The broker did not acknowledge a message that must not be lost (a result, a dead letter, a model
    update), or the producer refused it outright. `reason` is a short code; `where` says which input it
    was for, when there is one (the consumer's `Where`)."""

    stage = "publish"

    def __init__(self, message: str, *, reason: str = "delivery", where: object | None = None) -> None:
        super().__init__(f"{reason}: {message}" + (f" ({where})" if where else ""))
        self.reason = reason
        self.message = message
        self.where = where
