"""The delivery worker: POSTs each due delivery, signed, and records what the receiver said.

2xx is delivered. Anything else (an error status, a refused connection, a timeout, a
host that resolves inside) is tried again after ``base * 2**(n-1)`` seconds (n: failed
tries so far), at most ``cap``; after ``max_attempts`` tries the delivery is given up
(``failed``, re-sendable). A customer's later event waits while an earlier one to the
same endpoint is pending (``WebhookBook.due``), so receivers see each customer's events
in order. State lives in the tables, so a worker killed mid-retry resumes where it was.
A worker killed after the receiver answered and before the answer was recorded sends it
again: at least once, always under the same ``webhook-id`` (the event id).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from schemas.published import CLOUDEVENTS_JSON
from webhooks import signing
from webhooks.book import DELIVERED, FAILED, PENDING, WebhookBook
from webhooks.fanout import WebhookFanOut
from webhooks.targets import TargetPolicy, TargetRefused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    max_attempts: int = 10

    def wait_after(self, failures: int) -> timedelta:
        """The wait before the next try after ``failures`` failed tries in a row."""
        return timedelta(seconds=min(self.base_seconds * 2 ** (failures - 1), self.max_seconds))


class DeliveryWorker:
    def __init__(self, book: WebhookBook, fan_out: WebhookFanOut, *, retry: RetryPolicy,
                 targets: TargetPolicy, timeout_seconds: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 batch_size: int = 100, transport: httpx.BaseTransport | None = None) -> None:
        self.book, self.fan_out, self.retry, self.targets = book, fan_out, retry, targets
        self.clock, self.batch_size = clock, batch_size
        self.http = httpx.Client(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False,
                                 transport=transport,
                                 headers={"user-agent": "crm-timeline-webhooks/1"})

    def deliver_once(self) -> int:
        """Fan out what the outboxes queued, then try every due delivery once; returns
        how many tries were made."""
        self.fan_out.fan_out_once()
        tried = 0
        for delivery in self.book.due(self.clock(), self.batch_size):
            self._try(delivery)
            tried += 1
        return tried

    def _try(self, delivery: dict) -> None:
        body = delivery["body"].encode()
        status_code: int | None = None
        error: str | None = None
        try:
            self.targets.check_resolved(delivery["url"])
            timestamp = int(self.clock().timestamp())
            headers = {"content-type": CLOUDEVENTS_JSON,
                       **signing.headers(delivery["secret"], delivery["event_id"], timestamp,
                                         body)}
            # Streamed and closed unread: a receiver's answer body costs nothing.
            with self.http.stream("POST", delivery["url"], content=body,
                                  headers=headers) as response:
                status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except TargetRefused as refused:
            error = f"refused: {refused}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        at = self.clock()
        if error is None:
            self.book.record_attempt(delivery, at, status_code, None, DELIVERED, None)
            log.debug("webhook %s delivered to %s", delivery["event_id"], delivery["endpoint_id"])
            return
        failures = delivery["attempts"] + 1 - delivery["round_start"]
        if failures >= self.retry.max_attempts:
            self.book.record_attempt(delivery, at, status_code, error, FAILED, None)
            log.warning("webhook %s to %s given up after %d tries: %s", delivery["event_id"],
                        delivery["endpoint_id"], failures, error)
            return
        next_at = at + self.retry.wait_after(failures)
        self.book.record_attempt(delivery, at, status_code, error, PENDING, next_at)
        log.info("webhook %s to %s failed (%s); next try at %s", delivery["event_id"],
                 delivery["endpoint_id"], error, next_at.isoformat())

    def run(self, stop: threading.Event, idle_seconds: float) -> None:
        while not stop.is_set():
            try:
                if not self.deliver_once():
                    stop.wait(idle_seconds)
            except Exception:
                log.exception("delivering webhooks failed; trying again")
                stop.wait(1.0)
        self.http.close()
