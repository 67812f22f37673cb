"""librdkafka's log lines, at most once per 30 s each.

While a broker is away librdkafka reports every reconnection attempt, several
times a second, for as long as the outage lasts. One line per kind of message
every 30 s says the same, and the next line says how many repeats it held back.
"""

from __future__ import annotations

import logging
import time

#: librdkafka's own lines go to this logger (``Producer(..., logger=...)``).
LIBRDKAFKA = logging.getLogger("librdkafka")
QUIET_SECONDS = 30.0


class OncePerKind(logging.Filter):
    """Lets a line through when no line of its kind (librdkafka's facility, e.g. ``FAIL``,
    and the client) passed in the last ``QUIET_SECONDS``."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, tuple[float, int]] = {}  # kind -> (when passed, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = " ".join(message.split(" ", 2)[:2])  # "FAIL [rdkafka#consumer-1]"
        now = time.monotonic()
        passed, held = self._last.get(kind, (float("-inf"), 0))
        if now - passed < QUIET_SECONDS:
            self._last[kind] = (passed, held + 1)
            return False
        self._last[kind] = (now, 0)
        if held:
            record.msg, record.args = f"{message} ({held} like it held back)", ()
        return True


LIBRDKAFKA.addFilter(OncePerKind())
