"""`modstream review`: serve the moderators' review console.

    modstream review                         # users from MODSTREAM_REVIEW__USERS, on 127.0.0.1:8088
    modstream review --host 0.0.0.0 --port 8088
    modstream review --no-auth               # no users needed; loopback only

Without users configured it refuses to start unless `--no-auth` is given, and `--no-auth` refuses any
address but a loopback one: an open console would let anyone sign decisions the trainer learns from.
Once listening it prints `REVIEW url=http://HOST:PORT/` (the port is the real one when 0 was asked).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import sys
from collections.abc import Mapping

from pydantic import SecretStr

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: MODSTREAM_REVIEW__HOST)")
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: MODSTREAM_REVIEW__PORT; 0 = any)"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without basic auth, as moderator 'local'; only on a loopback address",
    )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def access_problem(host: str, *, users: Mapping[str, SecretStr], no_auth: bool) -> str | None:
    """Why the console may not start with these options (None when it may)."""
    if no_auth and not is_loopback(host):
        return f"--no-auth serves only a loopback address, not {host!r}"
    if no_auth:
        return None
    unusable = [
        name for name, password in users.items() if not name or ":" in name or not password.get_secret_value()
    ]
    if unusable:  # basic auth cannot carry a name with ':'; an empty password is no password
        return (
            f"MODSTREAM_REVIEW__USERS: {len(unusable)} moderator(s) with an empty name or password,"
            " or ':' in the name"
        )
    if not users:
        return (
            "no moderators configured: set MODSTREAM_REVIEW__USERS (JSON object of name -> password)"
            " or use --no-auth"
        )
    return None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from events.logs import configure_logging
    from events.settings import Settings
    from review.app import create_app

    settings = Settings()
    configure_logging(settings.log)
    host = args.host or settings.review.host
    port = settings.review.port if args.port is None else args.port
    problem = access_problem(host, users=settings.review.users, no_auth=args.no_auth)
    if problem is not None:
        print(f"modstream review: {problem}", file=sys.stderr)
        return 2
    log.info("settings %s", settings.redacted())
    app, _console = create_app(settings, users=None if args.no_auth else settings.review.users)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        print(f"modstream review: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(
        app,
        log_level=settings.log.level.lower(),
        access_log=False,
        limit_concurrency=settings.review.max_connections,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=3,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    print(f"REVIEW url=http://{shown}:{bound_port}/", flush=True)
    server.run(sockets=[sock])
    return 0
