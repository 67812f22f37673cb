"""Relays queued messages from a transactional outbox table to a Kafka topic, at least once.

Publish, wait for the broker's acknowledgement, then mark as published. A relay
killed between the two publishes those messages again on restart: receivers see
the same id (the ``alert_id`` or ``change_id`` header) and drop the repeat. Never
twice with different ids: the id is the message's own. The key is the customer id,
so one customer's messages stay in order on one partition. One relay per outbox:
alerts (``projections/alerts.py``) to ``crm.alerts``, segment entries and exits
(``projections/segments.py``) to ``crm.segments``.

Each queued message goes out as a structured-mode CloudEvent (``as_cloudevent``, from
``schemas/published.py``) with ``content-type: application/cloudevents+json``, as the
CloudEvents Kafka binding has it. The outbox keeps the bare message and the relay wraps
it when it sends, so messages queued before this changed go out as CloudEvents too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from messaging.sending import Sender
from schemas.published import CLOUDEVENTS_JSON
from storage.views import Row, SqlCursor, ViewDatabase

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """A table of messages queued in the transactions that made them."""

    def pending(self, db: SqlCursor, limit: int) -> list[Row]:
        """Unpublished messages in order, each with ``id``, ``key`` and ``message``."""

    def mark_published(self, db: SqlCursor, ids: Sequence[str], at: datetime) -> None: ...


class OutboxRelay:
    def __init__(self, views: ViewDatabase, outbox: Outbox, client: Mapping[str, Any],
                 topic: str, id_header: str,
                 as_cloudevent: Callable[[dict[str, Any]], dict[str, Any]],
                 batch_size: int = 500, summary_seconds: float = 60.0) -> None:
        """``client``: the librdkafka settings every client of this service shares;
        ``id_header``: the header that carries each message's id; ``as_cloudevent``: the
        CloudEvent a queued message is published as."""
        self.views = views
        self.book = outbox
        self.topic = topic
        self.id_header = id_header
        self.as_cloudevent = as_cloudevent
        self.batch_size = batch_size
        self.sender = Sender(client, **{"client.id": f"crm-timeline-relay-{topic}",
                                        "linger.ms": 5})
        # Routine work is one info line per ``summary_seconds``, not one per batch.
        self.summary_seconds = summary_seconds
        self._unreported = 0
        self._reported_at = time.monotonic()

    def relay_once(self) -> int:
        """Publish one batch of queued messages; return how many were published."""
        with self.views.read() as db:
            queued = self.book.pending(db, self.batch_size)
        if not queued:
            return 0
        for row in queued:
            event = self.as_cloudevent(json.loads(row["message"]))
            self.sender.send(self.topic, json.dumps(event, sort_keys=True).encode(),
                             key=row["key"].encode(),
                             headers=[(self.id_header, row["id"].encode()),
                                      ("content-type", CLOUDEVENTS_JSON.encode())])
        self.sender.flush()  # raises if the broker did not take one: nothing is marked
        self.mark_published([row["id"] for row in queued])
        for row in queued:
            log.debug("%s %s published to %s", self.id_header, row["id"], self.topic,
                      extra={self.id_header: row["id"], "customer_id": row["key"]})
        log.debug("%d messages published to %s", len(queued), self.topic)
        self._unreported += len(queued)
        self._summarize()
        return len(queued)

    def _summarize(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if self._unreported and (final or now - self._reported_at >= self.summary_seconds):
            log.info("%d messages published to %s in the last %.0f s", self._unreported,
                     self.topic, now - self._reported_at)
            self._unreported, self._reported_at = 0, now

    def mark_published(self, ids: list[str]) -> None:
        with self.views.write() as db:
            self.book.mark_published(db, ids, datetime.now(UTC))

    def run(self, stop: threading.Event, idle_seconds: float) -> None:
        while not stop.is_set():
            try:
                if not self.relay_once():
                    self._summarize()
                    stop.wait(idle_seconds)
            except Exception:
                log.exception("relaying to %s failed; retrying", self.topic)
                stop.wait(1.0)
        self._summarize(final=True)
        self.sender.producer.flush(5)  # what is unacknowledged stays queued: sent again later
