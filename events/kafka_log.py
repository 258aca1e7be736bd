"""librdkafka's own log, through Python logging: one record per event, rate-limited, at its level.

Every client gets `"logger": kafka_logger()` in its config (events.kafka.common_config), so JSON mode
(MODSTREAM_LOG__JSON_FORMAT) covers librdkafka's lines too. confluent_kafka maps syslog levels to
Python's (3 ERROR, 4 WARNING, 5-6 INFO, 7 DEBUG) and logs `"%s [%s] %s" % (facility, client, message)`.

A broker that is down makes librdkafka repeat the same FAIL line several times a second per connection;
the filter lets one record per (level, facility) through each `interval_s`, and the next one it lets
through says how many it held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

LOGGER_NAME = "librdkafka"


class RateLimit(logging.Filter):
    def __init__(self, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[int, str], float] = {}
        self._held: dict[tuple[int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        facility = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        key = (record.levelno, facility)
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} similar held back in {self._interval_s:g}s)"
        return True


def kafka_logger() -> logging.Logger:
    """The one logger every Kafka client of this process logs through (its filter is shared)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, RateLimit) for f in logger.filters):
        logger.addFilter(RateLimit())
    return logger
