"""Relays queued alerts from the outbox table to the ``crm.alerts`` topic, at least once.

Publish, wait for the broker's acknowledgement, then mark as published. A relay
killed between the two publishes those alerts again on restart: receivers see
the same alert id (the message key and the ``alert_id`` header) and drop the
repeat. Never twice with different ids: the id is the alert's own.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

from kafka import KafkaProducer

from projections.alerts import AlertBook
from storage.views import ViewDatabase

log = logging.getLogger(__name__)


class AlertRelay:
    def __init__(self, views: ViewDatabase, bootstrap_servers: str, topic: str,
                 batch_size: int = 500) -> None:
        self.views = views
        self.book = AlertBook(views)
        self.topic = topic
        self.batch_size = batch_size
        self.producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5,
                                      client_id="crm-timeline-alert-relay")

    def relay_once(self) -> int:
        """Publish one batch of queued alerts; return how many were published."""
        with self.views.read() as db:
            queued = self.book.pending(db, self.batch_size)
        if not queued:
            return 0
        deliveries = [
            self.producer.send(self.topic, key=row["alert_id"].encode(),
                               value=row["message"].encode(),
                               headers=[("alert_id", row["alert_id"].encode())])
            for row in queued
        ]
        self.producer.flush()
        for delivery in deliveries:
            delivery.get(timeout=30)  # raises if the broker did not take it: nothing is marked
        self.mark_published([row["alert_id"] for row in queued])
        for row in queued:
            message = json.loads(row["message"])
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
        self.producer.close()
