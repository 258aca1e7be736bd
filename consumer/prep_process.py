"""The body of one image-preparation worker PROCESS (the child side of `consumer.prep_pool`).

    parent ──request: header (task id, DecodeLimits), image bytes──► serve() ──► decode_image_uint8
           ◄──reply: task id, OK + 3*S*S uint8 bytes | ERROR + "reason\0detail"──┘

    python -m consumer.prep_process REQUEST_FD REPLY_FD HEADROOM_BYTES      (started by consumer.prep_pool)

A plain subprocess, not multiprocessing: a spawned multiprocessing child re-imports the parent's main
module (the CLI, torch and all), and a forked one inherits the consumer's threads. Frames are bytes with
a fixed header, never pickles: this process handles hostile bytes, and what it says back must not be
able to run code in the consumer. It imports numpy and Pillow only (never torch): it starts fast, and
its address space is small enough that a memory limit means something. The limit (RLIMIT_AS) is set
once, after the imports: the worker's own footprint plus `headroom_bytes`. An image that needs more
raises MemoryError inside Pillow or numpy; the worker answers `bomb` and exits, so the parent starts
a fresh one (whatever the failed allocation left behind dies with it). A crash the worker cannot
answer (a segfault in a decoder, the kernel's OOM killer) is seen by the parent as a closed pipe:
`worker_died`, and the same replacement.
"""

from __future__ import annotations

import os
import resource
import struct
import sys
from multiprocessing.connection import Connection

from model.images import DecodeLimits, ImageDecodeError, decode_image_uint8

REQUEST = struct.Struct("<QIqqd")  # task id, size, max_bytes, max_pixels, max_pixels_per_byte
REPLY = struct.Struct("<QB")  # task id, status
OK, ERROR = 0, 1
MAX_ERROR_BYTES = 1024


def pack_request(task_id: int, limits: DecodeLimits) -> bytes:
    return REQUEST.pack(task_id, limits.size, limits.max_bytes, limits.max_pixels, limits.max_pixels_per_byte)


def unpack_request(header: bytes) -> tuple[int, DecodeLimits]:
    task_id, size, max_bytes, max_pixels, per_byte = REQUEST.unpack(header)
    return task_id, DecodeLimits(size, max_bytes, max_pixels, per_byte)


def error_reply(task_id: int, reason: str, detail: str) -> bytes:
    text = f"{reason}\0{detail}".encode("utf-8", "replace")[:MAX_ERROR_BYTES]
    return REPLY.pack(task_id, ERROR) + text


def address_space_bytes() -> int | None:
    """This process's virtual size (Linux /proc), or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def limit_memory(headroom_bytes: int) -> None:
    """RLIMIT_AS = what the process maps now + headroom. Without /proc, the headroom alone is the
    limit (too tight rather than none)."""
    now = address_space_bytes() or 0
    limit = now + headroom_bytes
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def serve(requests: Connection, replies: Connection, headroom_bytes: int) -> None:
    """Answer requests until the parent closes its end. The child's whole life."""
    limit_memory(headroom_bytes)
    while True:
        try:
            header = requests.recv_bytes(REQUEST.size)
            task_id, limits = unpack_request(header)
            data = requests.recv_bytes()
        except (EOFError, OSError, struct.error):
            return
        try:
            image = decode_image_uint8(
                data,
                size=limits.size,
                max_bytes=limits.max_bytes,
                max_pixels=limits.max_pixels,
                max_pixels_per_byte=limits.max_pixels_per_byte,
            )
        except ImageDecodeError as exc:
            replies.send_bytes(error_reply(task_id, exc.reason, exc.detail))
            continue
        except MemoryError:
            del data
            replies.send_bytes(
                error_reply(task_id, "bomb", "the image needs more memory than a prep worker may use")
            )
            os._exit(3)  # whatever the failed allocation left behind goes with this process
        except Exception as exc:  # decode_image_uint8 maps Pillow's errors; anything else is a bug here
            replies.send_bytes(error_reply(task_id, "undecodable", f"{type(exc).__name__}: {exc}"))
            continue
        replies.send_bytes(REPLY.pack(task_id, OK) + image.tobytes())


def main(argv: list[str]) -> None:
    request_fd, reply_fd, headroom = (int(arg) for arg in argv)
    serve(Connection(request_fd, writable=False), Connection(reply_fd, readable=False), headroom)


if __name__ == "__main__":
    main(sys.argv[1:])
