"""The console's HTTP surface: one page, its static files, a JSON API, an event stream, thumbnails.

    >>> app, console = create_app(settings, users=settings.review.users)     # users=None: --no-auth
    >>> uvicorn.run(app, ...)                                         # review.cli does this

Routes (all behind `access.AccessMiddleware`):

    GET  /                              the page (static HTML; the JS builds the cards with textContent)
    GET  /static/app.js, /static/app.css
    GET  /api/me                        who is signed in, and the page's caps
    GET  /api/cards?flagged=1&label=L&undecided=1   a capped snapshot, flagged first
    GET  /api/status                    what the feed has read and skipped, cards kept, halves waiting
    GET  /api/events?cursor=N           server-sent events: what changed, at most push_max_cards a push
    POST /api/cards/{post_id}/decision  {"labels": [...]}: a Feedback event, answered once acknowledged
    GET  /thumb/{post_id}               the post's image, fetched and re-encoded by the server

The page may only load from the console itself: a Content-Security-Policy of 'self' (images
included) backs up the rule that image URLs are never sent to the browser at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.schemas import utc_now
from events.settings import Settings
from review.access import AccessMiddleware
from review.cards import CardStore, Decision
from review.decisions import FeedbackPublisher, PublishError, decided_labels, to_feedback
from review.feed import Feed
from review.thumbnails import Thumbnails

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 16 * 1024
HEARTBEAT_S = 15.0
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class Console:
    """The pieces one app holds; built in its lifespan (the thumbnails and publisher need its loop)."""

    def __init__(self, settings: Settings, store: CardStore) -> None:
        self.settings = settings
        self.store = store
        self.feed = Feed(settings, store)
        self.thumbs: Thumbnails | None = None
        self.publisher: FeedbackPublisher | None = None
        self.now: Callable[[], datetime] = utc_now

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        review = self.settings.review
        self.thumbs = Thumbnails(self.settings.fetch, review)
        self.publisher = FeedbackPublisher(
            self.settings.kafka, self.settings.topics.feedback, ack_timeout_s=review.ack_timeout_s
        )
        await asyncio.to_thread(self.feed.start)
        try:
            yield
        finally:
            await asyncio.to_thread(self.feed.stop)
            await asyncio.to_thread(self.publisher.close)
            await self.thumbs.aclose()


def create_app(
    settings: Settings,
    *,
    users: Mapping[str, SecretStr] | None,
    store: CardStore | None = None,
) -> tuple[ASGIApp, Console]:
    """The app to serve, and its Console (tests reach the store through it)."""
    review = settings.review
    console = Console(
        settings,
        store or CardStore(max_cards=review.max_cards, max_unjoined=review.max_unjoined),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with console.running():
            yield

    async def page(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def me(request: Request) -> Response:
        return _json(
            {
                "moderator_id": request.scope["moderator_id"],
                "page_max_cards": review.page_max_cards,
            }
        )

    async def cards(request: Request) -> Response:
        query = request.query_params
        label = query.get("label") or None
        cursor = console.store.seq  # before the snapshot: a change in between is sent again, not lost
        snapshot = console.store.snapshot(
            limit=review.page_max_cards,
            flagged_only=query.get("flagged") == "1",
            label=label[:64] if label else None,
            undecided_only=query.get("undecided") == "1",
        )
        return _json({"cards": snapshot, "cursor": cursor})

    async def status(_request: Request) -> Response:
        """Is the console keeping up with the topics? For an operator, and for tests that must know
        that a burst has been read (which card is newest depends on the order partitions are read in)."""
        posts, results = console.store.pending()
        return _json(
            {
                "feed": console.feed.stats(),
                "cards": len(console.store),
                "waiting": {"posts": posts, "results": results},
            }
        )

    async def events(request: Request) -> Response:
        try:
            cursor = max(0, int(request.query_params.get("cursor", "0")))
        except ValueError:
            cursor = 0
        interval = review.push_interval_ms / 1000

        async def stream() -> AsyncIterator[bytes]:
            nonlocal cursor
            idle = 0.0
            yield b"retry: 2000\n\n"
            while True:
                await asyncio.sleep(interval)
                if console.store.seq > cursor:
                    sent, cursor, dropped = console.store.changed_since(cursor, limit=review.push_max_cards)
                    payload = json.dumps({"cards": sent, "cursor": cursor, "dropped": dropped})
                    yield f"event: cards\ndata: {payload}\n\n".encode()
                    idle = 0.0
                else:
                    idle += interval
                    if idle >= HEARTBEAT_S:  # keeps proxies from closing a quiet stream
                        yield b": ping\n\n"
                        idle = 0.0

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def decide(request: Request) -> Response:
        card = console.store.get(request.path_params["post_id"])
        if card is None:
            return _json({"error": "no such card (it may have been dropped from memory)"}, 404)
        body = await _bounded_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("labels"), list):
            return _json({"error": 'expected {"labels": [...]}'}, 400)
        try:
            labels = decided_labels(card, body["labels"])
            feedback = to_feedback(
                card, labels, moderator_id=request.scope["moderator_id"], now=console.now()
            )
        except ValueError as exc:
            return _json({"error": str(exc)[:300]}, 400)
        assert console.publisher is not None
        try:
            await console.publisher.publish(feedback)
        except PublishError as exc:
            return _json({"error": f"decision not recorded: {exc}"}, 502)
        decided = console.store.decide(
            card.post_id, Decision(labels, feedback.moderator_id or "", feedback.decided_at)
        )
        return _json({"card": (decided or card).to_json()})

    async def thumb(request: Request) -> Response:
        card = console.store.get(request.path_params["post_id"])
        if card is None or card.post.image_url is None:
            return Response(status_code=404, headers={"cache-control": "no-store"})
        assert console.thumbs is not None
        made = await console.thumbs.get(card.post.image_url)
        if made.data is None:
            return Response(
                status_code=404, headers={"x-thumb-reason": made.reason or "", "cache-control": "no-store"}
            )
        return Response(
            made.data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"}
        )

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/me", me),
            Route("/api/cards", cards),
            Route("/api/status", status),
            Route("/api/events", events),
            Route("/api/cards/{post_id:path}/decision", decide, methods=["POST"]),
            Route("/thumb/{post_id:path}", thumb),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
    return SecurityHeaders(AccessMiddleware(app, users=users)), console


class SecurityHeaders:
    """Adds the headers above to every response, the 401s and 403s of the access check included."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, with_headers)


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers={"cache-control": "no-store"})


async def _bounded_json(request: Request) -> Any:
    """The request's JSON body, or None when it is too large or not JSON."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return None
