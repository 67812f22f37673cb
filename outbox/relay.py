"""Relays queued alerts from the outbox table to the ``crm.alerts`` topic, at least once.

Publish, wait for the broker's acknowledgement, then mark as published. A relay
killed between the two publishes those alerts again on restart: receivers see
the same alert id (the ``alert_id`` header) and drop the repeat. Never twice with
different ids: the id is the alert's own. The key is the customer id, so one
customer's alerts stay in order on one partition.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from messaging.sending import Sender
from projections.alerts import AlertBook
from storage.views import ViewDatabase

log = logging.getLogger(__name__)


class AlertRelay:
    def __init__(self, views: ViewDatabase, client: Mapping[str, Any], topic: str,
                 batch_size: int = 500) -> None:
        """``client``: the librdkafka settings every client of this service shares."""
        self.views = views
        self.book = AlertBook(views)
        self.topic = topic
        self.batch_size = batch_size
        self.sender = Sender(client, **{"client.id": "crm-timeline-alert-relay", "linger.ms": 5})

    def relay_once(self) -> int:
        """Publish one batch of queued alerts; return how many were published."""
        with self.views.read() as db:
            queued = self.book.pending(db, self.batch_size)
        if not queued:
            return 0
        messages = [json.loads(row["message"]) for row in queued]
        for row, message in zip(queued, messages, strict=True):
            self.sender.send(self.topic, row["message"].encode(),
                             key=message["customer_id"].encode(),
                             headers=[("alert_id", row["alert_id"].encode())])
        self.sender.flush()  # raises if the broker did not take one: nothing is marked
        self.mark_published([row["alert_id"] for row in queued])
        for row, message in zip(queued, messages, strict=True):
            log.info("alert %s published: %s", row["alert_id"], message["kind"],
                     extra={"alert_id": row["alert_id"], "customer_id": message["customer_id"]})
        return len(queued)

    def mark_published(self, alert_ids: list[str]) -> None:
        with self.views.write() as db:
            self.book.mark_published(db, alert_ids, datetime.now(UTC))

    def run(self, stop: threading.Event, idle_seconds: float) -> None:
        while not stop.is_set():
            try:
                if not self.relay_once():
                    stop.wait(idle_seconds)
            except Exception:
                log.exception("relaying alerts failed; retrying")
                stop.wait(1.0)
        self.sender.producer.flush(5)  # what is unacknowledged stays queued: sent again later
