"""Webhooks: alerts and segment changes reach registered endpoints from the outboxes,
signed by the Standard Webhooks scheme, retried with backoff, in order per customer,
once per event id across restarts, and re-sent on request.

The receiver is a small HTTP server on 127.0.0.1 in a thread; it verifies signatures
with its own implementation of the scheme (not the service's ``webhooks.signing``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from domain.facts import ReportedFact
from history.arrivals import Arrival
from projections.segments import Definition, SegmentBook
from service import bootstrap
from service.settings import REPO_ROOT
from tests.events import NOW
from tests.integration.conftest import Desk, ServiceUnderTest, desk_on, wait_until
from webhooks.book import WebhookBook

pytestmark = pytest.mark.integration


def verify(secret: str, headers: dict[str, str], body: bytes, now: datetime) -> bool:
    """A receiver's check, as standardwebhooks.com describes it: HMAC-SHA256 keyed by the
    base64-decoded secret over ``id.timestamp.body``, any of the space-separated ``v1,``
    signatures matching, the timestamp within five minutes."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now.timestamp() - int(timestamp)) > 300:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.partition(",")[2])
               for s in headers["webhook-signature"].split() if s.startswith("v1,"))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each request with what ``answer`` says for its CloudEvent (204 by default)."""

    answer: Callable[[dict[str, Any]], int] = lambda event: 204
    got: list[Received] = field(default_factory=list)
    url: str = ""

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the server's name for it
            body = self.rfile.read(int(self.headers["content-length"]))
            status = found.answer(json.loads(body))
            found.got.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                      status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/crm-hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    """Now, moved on by hand: retries become due without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def hooks(store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A desk on each store, allowed to deliver to this machine over http."""
    monkeypatch.setenv("CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST", "1")
    with desk_on(store, monkeypatch) as desk:
        yield desk


def register(desk: Desk, url: str, events: list[str]) -> dict[str, Any]:
    answer = desk.client.post("/webhooks", json={"url": url, "events": events,
                                                 "description": "the CRM bridge"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def complaint(customer: str, n: int) -> ReportedFact:
    """A high-priority complaint opened 10 h ago: its first response is at risk and breached."""
    return ReportedFact(f"k-{customer}-{n}", "crm.complaint.opened", "tests", customer,
                        NOW - timedelta(hours=10), {"complaint_id": f"K-{customer}-{n}",
                                                    "priority": "high"})


def worker(desk: Desk, clock: Clock) -> Any:
    return bootstrap.build_webhook_worker(desk.settings, desk.views, clock=clock,
                                          settle_seconds=0)


def log(desk: Desk, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    answer = desk.client.get(f"/webhooks/{endpoint['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def test_a_receiver_that_fails_twice_gets_the_signed_alert_on_the_third_try(
    hooks: Desk, receiver: Receiver,
) -> None:
    endpoint = register(hooks, receiver.url, ["alerts"])
    assert endpoint["secret"].startswith("whsec_")
    failures = iter([500, 503])
    receiver.answer = lambda event: next(failures, 204)
    hooks.record(complaint("C-1", 1))  # two alerts of one customer: at risk, then breached
    clock = Clock()
    sender = worker(hooks, clock)

    assert sender.deliver_once() == 1  # the first alert; the second waits behind it
    first = log(hooks, endpoint)
    retrying = next(d for d in first if d["attempts"] == 1)
    assert retrying["status"] == "pending" and retrying["last_status_code"] == 500
    assert [t["error"] for t in retrying["tries"]] == ["answered 500"]
    waited = (datetime.fromisoformat(retrying["next_attempt_at"])
              - datetime.fromisoformat(retrying["last_attempt_at"]))
    assert waited == timedelta(seconds=5)  # CRM_WEBHOOK_RETRY_BASE_SECONDS
    assert sender.deliver_once() == 0  # not due yet, and the later alert waits
    clock.advance(5)
    assert sender.deliver_once() == 1  # second try: 503, next in 10 s
    clock.advance(9)
    assert sender.deliver_once() == 0
    clock.advance(1)
    assert sender.deliver_once() == 1  # third try: delivered
    assert sender.deliver_once() == 1  # then the customer's next alert
    assert sender.deliver_once() == 0

    assert [r.answered for r in receiver.got] == [500, 503, 204, 204]
    first_id, second_id = receiver.ids()[0], receiver.ids()[3]
    assert receiver.ids() == [first_id] * 3 + [second_id] and first_id != second_id
    assert len({r.body for r in receiver.got[:3]}) == 1  # every try the same bytes
    for request in receiver.got:
        assert verify(endpoint["secret"], request.headers, request.body, clock())
        assert request.headers["content-type"] == "application/cloudevents+json"
        event = request.event
        assert event["id"] == request.headers["webhook-id"] == event["data"]["alert_id"]
        assert event["specversion"] == "1.0" and event["subject"] == "C-1"
    types = [r.event["type"] for r in receiver.got]
    assert set(types) == {"crm.sla.at_risk", "crm.sla.breached"}
    forged = dict(receiver.got[0].headers, **{"webhook-id": second_id})
    assert not verify(endpoint["secret"], forged, receiver.got[0].body, clock())
    assert not verify(register(hooks, receiver.url, ["alerts"])["secret"],
                      receiver.got[0].headers, receiver.got[0].body, clock())

    metrics = hooks.client.get("/metrics").text  # for operators: nothing waits, nothing given up
    assert 'crm_webhook_deliveries{status="delivered"} 2.0' in metrics
    assert 'crm_webhook_deliveries{status="pending"} 0.0' in metrics
    done = {d["event_id"]: d for d in log(hooks, endpoint)}
    assert {d["status"] for d in done.values()} == {"delivered"}
    assert [t["status_code"] for t in done[first_id]["tries"]] == [500, 503, 204]
    assert done[first_id]["tries"][1]["next_attempt_at"] is not None


def test_one_customers_retries_hold_back_only_that_customers_later_events(
    hooks: Desk, receiver: Receiver,
) -> None:
    endpoint = register(hooks, receiver.url, ["crm.sla.*"])
    down = {"C-1"}
    receiver.answer = lambda event: 500 if event["subject"] in down else 200
    hooks.record(complaint("C-1", 1), complaint("C-2", 1), complaint("C-1", 2))
    clock = Clock()
    sender = worker(hooks, clock)
    for _ in range(6):
        sender.deliver_once()
    ok = [r.event for r in receiver.got if r.answered == 200]
    assert {e["subject"] for e in ok} == {"C-2"} and len(ok) == 2
    tried_c1 = {r.headers["webhook-id"] for r in receiver.got if r.answered == 500}
    assert len(tried_c1) == 1  # only C-1's first event was tried; its three others wait
    down.clear()
    for _ in range(10):
        clock.advance(3600)
        sender.deliver_once()
    delivered = [r.event for r in receiver.got if r.answered == 200]
    c1 = [e["id"] for e in delivered if e["subject"] == "C-1"]
    assert len(c1) == 4 and c1[0] in tried_c1
    deliveries = log(hooks, endpoint)  # newest first
    queued = [d["event_id"] for d in reversed(deliveries) if d["customer_id"] == "C-1"]
    assert c1 == queued  # in the order the outbox queued them
    assert {d["status"] for d in deliveries} == {"delivered"}


def test_a_worker_killed_mid_retry_or_before_recording_loses_nothing_and_keeps_ids(
    hooks: Desk, receiver: Receiver,
) -> None:
    endpoint = register(hooks, receiver.url, ["alerts"])
    failures = iter([500])
    receiver.answer = lambda event: next(failures, 200)
    hooks.record(complaint("C-1", 1), complaint("C-2", 1))
    clock = Clock()
    dying = worker(hooks, clock)
    assert dying.deliver_once() == 2  # C-1's first fails, C-2's first is delivered
    del dying  # killed mid-retry: its state is in the tables

    class Killed(Exception):
        pass

    clock.advance(5)
    second = worker(hooks, clock)
    answered = second.book.record_attempt

    def killed(*args: Any) -> None:
        raise Killed

    second.book.record_attempt = killed  # type: ignore[method-assign]
    with pytest.raises(Killed):
        second.deliver_once()  # the receiver got one, nothing was recorded
    second.book.record_attempt = answered  # type: ignore[method-assign]

    restarted = worker(hooks, clock)
    while restarted.deliver_once():
        clock.advance(5)
    assert restarted.fan_out.fan_out_once() == 0  # every outbox row taken once
    with hooks.views.read() as db:
        db.execute(f"SELECT alert_id FROM {hooks.views.table('alerts')}")
        alert_ids = {row["alert_id"] for row in db.fetchall()}
    assert len(alert_ids) == 4
    delivered = [r for r in receiver.got if r.answered == 200]
    assert {r.headers["webhook-id"] for r in delivered} == alert_ids  # none lost
    bodies: dict[str, set[bytes]] = {}
    for request in receiver.got:
        bodies.setdefault(request.headers["webhook-id"], set()).add(request.body)
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same event, same id
    assert len(log(hooks, endpoint)) == 4  # one delivery row per event


def test_resend_delivers_again_under_the_same_id_and_a_given_up_one_gets_its_tries_anew(
    hooks: Desk, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = register(hooks, receiver.url, ["crm.sla.breached"])
    receiver.answer = lambda event: 410
    hooks.record(complaint("C-1", 1))
    clock = Clock()
    sender = worker(hooks, clock)
    for _ in range(12):
        sender.deliver_once()
        clock.advance(3600)
    (given_up,) = log(hooks, endpoint)
    assert 'crm_webhook_deliveries{status="failed"} 1.0' in hooks.client.get("/metrics").text
    assert given_up["status"] == "failed" and given_up["attempts"] == 10  # CRM_WEBHOOK_MAX_ATTEMPTS
    assert given_up["next_attempt_at"] is None and given_up["event_type"] == "crm.sla.breached"
    waits = [datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])
             for a, b in zip(given_up["tries"], given_up["tries"][1:], strict=False)]
    assert all(w >= timedelta(hours=1) for w in waits)  # due each hour here: capped at 1 h

    receiver.answer = lambda event: 200
    resent = hooks.client.post(f"/webhooks/{endpoint['id']}/deliveries/"
                               f"{given_up['event_id'].replace('/', '%2F')}/resend")
    assert resent.status_code == 200, resent.text
    assert resent.json()["status"] == "pending"
    assert sender.deliver_once() == 1
    again = hooks.client.post(f"/webhooks/{endpoint['id']}/deliveries/"
                              f"{given_up['event_id'].replace('/', '%2F')}/resend")
    assert again.status_code == 200
    assert sender.deliver_once() == 1
    assert receiver.ids() == [given_up["event_id"]] * 12
    assert len({r.body for r in receiver.got}) == 1
    (delivered,) = log(hooks, endpoint)
    assert delivered["status"] == "delivered" and delivered["attempts"] == 12
    missing = hooks.client.post(f"/webhooks/{endpoint['id']}/deliveries/nope/resend")
    assert missing.status_code == 404


def test_the_worker_thread_delivers_as_alerts_are_raised(hooks: Desk, receiver: Receiver) -> None:
    register(hooks, receiver.url, ["alerts"])
    running = bootstrap.build_webhook_worker(hooks.settings, hooks.views)  # as `project` does
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop, 0.05))
    thread.start()
    try:
        hooks.record(complaint("C-1", 1))
        wait_until(lambda: len(receiver.got) == 2, timeout=20, what="two alerts delivered")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert {r.event["type"] for r in receiver.got} == {"crm.sla.at_risk", "crm.sla.breached"}


def test_segment_changes_go_to_endpoints_that_asked_and_only_after_they_registered(
    hooks: Desk, receiver: Receiver,
) -> None:
    book = SegmentBook(hooks.views)
    vip = Definition("vip", 1, None, "", "tests", NOW)
    with hooks.views.write() as db:
        book.change(db, vip, "C-9", True, NOW - timedelta(hours=1), ["before any endpoint"])
    clock = Clock()
    sender = worker(hooks, clock)
    assert sender.deliver_once() == 0
    segments = register(hooks, receiver.url, ["segments"])
    alerts = register(hooks, receiver.url + "/alerts", ["alerts"])
    with hooks.views.write() as db:
        book.change(db, vip, "C-1", True, datetime.now(UTC), ["lifetime value above 1000"])
    hooks.record(complaint("C-1", 1))
    while sender.deliver_once():
        pass
    by_path = {(r.event["type"], r.event["subject"]) for r in receiver.got}
    assert ("crm.segment.entered", "C-1") in by_path
    assert ("crm.segment.entered", "C-9") not in by_path  # queued before registration
    segment_log, alert_log = log(hooks, segments), log(hooks, alerts)
    assert [d["event_type"] for d in segment_log] == ["crm.segment.entered"]
    assert {d["event_type"] for d in alert_log} == {"crm.sla.at_risk", "crm.sla.breached"}
    request = next(r for r in receiver.got if r.event["type"] == "crm.segment.entered")
    assert verify(segments["secret"], request.headers, request.body, clock())
    assert request.event["data"]["segment"] == "vip"


def test_admins_manage_endpoints_and_refused_urls_and_patterns_say_why(
    hooks: Desk, receiver: Receiver, store: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = hooks.client
    made = register(hooks, receiver.url, ["alerts", "crm.segment.*"])
    listed = client.get("/webhooks").json()["webhooks"]
    assert [w["id"] for w in listed] == [made["id"]]
    assert "secret" not in listed[0] and listed[0]["events"] == ["alerts", "crm.segment.*"]
    for url, why in [("http://crm.example.com/hook", "https://"),
                     ("https://10.1.2.3/hook", "not a public address"),
                     ("https://169.254.169.254/latest", "not a public address"),
                     ("https://user:pw@crm.example.com/hook", "password"),
                     ("ftp://127.0.0.1/hook", "https://")]:
        refused = client.post("/webhooks", json={"url": url, "events": ["alerts"]})
        assert refused.status_code == 400 and why in refused.json()["detail"], (url, refused.text)
    typo = client.post("/webhooks", json={"url": receiver.url, "events": ["crm.sla.breachd"]})
    assert typo.status_code == 400 and "matches no published event type" in typo.json()["detail"]
    assert client.post("/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
    assert client.post("/webhooks", json={"url": "https://crm.example.com/hook",
                                          "events": ["segments"]}).status_code == 201
    removed = client.delete(f"/webhooks/{made['id']}")
    assert removed.status_code == 200 and removed.json() == {"id": made["id"],
                                                            "removed_deliveries": 0}
    assert client.delete(f"/webhooks/{made['id']}").status_code == 404
    assert client.get(f"/webhooks/{made['id']}/deliveries").status_code == 404
    assert client.get("/webhooks/not-an-id/deliveries").status_code == 422

    sent = client.get("/openapi.json").json()["webhooks"]["crm-timeline-event"]["post"]
    assert {p["name"] for p in sent["parameters"]} == {"webhook-id", "webhook-timestamp",
                                                      "webhook-signature"}
    assert sent["requestBody"]["content"]["application/cloudevents+json"]["schema"]["$ref"].endswith(
        "PublishedEvent")
    monkeypatch.delenv("CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST")
    with desk_on(store, monkeypatch) as strict:
        local = strict.client.post("/webhooks", json={"url": receiver.url, "events": ["alerts"]})
        assert local.status_code == 400 and "CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST" in local.text


def test_webhooks_on_the_command_line(hooks: Desk, receiver: Receiver,
                                      store: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "service.cli", "webhooks", *args],
                              env={**os.environ, **store,
                                   "CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST": "1"},
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    added = cli("add", receiver.url, "--events", "alerts,crm.segment.*", "--description", "desk")
    assert added.returncode == 0, added.stderr
    webhook_id = added.stdout.split()[0]
    secret = next(w for w in added.stdout.split() if w.startswith("whsec_"))
    assert cli("add", "http://crm.example.com/", "--events", "alerts").returncode != 0
    listed = cli("list")
    assert webhook_id in listed.stdout and secret not in listed.stdout
    hooks.record(complaint("C-1", 1))
    sender = worker(hooks, Clock())
    while sender.deliver_once():
        pass
    log_lines = cli("deliveries", webhook_id, "--status", "delivered").stdout.splitlines()
    assert len(log_lines) == 2 and all("delivered" in line for line in log_lines)
    event_id = log_lines[0].split()[0]
    assert cli("resend", webhook_id, event_id).returncode == 0
    assert sender.deliver_once() == 1 and receiver.ids().count(event_id) == 2
    assert verify(secret, receiver.got[-1].headers, receiver.got[-1].body, datetime.now(UTC))
    assert cli("resend", webhook_id, "no-such-event").returncode != 0
    assert "removed with 2 deliveries" in cli("remove", webhook_id).stdout
    assert cli("deliveries", webhook_id).returncode != 0


def test_the_project_process_delivers_and_a_sigkill_mid_retry_loses_nothing(
    pg_service: ServiceUnderTest, receiver: Receiver,
) -> None:
    service = pg_service
    endpoint = WebhookBook(service.views).register(receiver.url, ["alerts"], "", "tests",
                                                   datetime.now(UTC))
    failing = threading.Event()
    failing.set()
    receiver.answer = lambda event: 500 if failing.is_set() else 200
    service.history.record([Arrival("test:feed", 1, complaint("C-1", 1)),
                            Arrival("test:feed", 2, complaint("C-2", 1))])
    env = {"CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST": "1", "CRM_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
           "CRM_WEBHOOK_SECONDS": "0.05"}
    service.start("project", env=env)
    wait_until(lambda: len(receiver.got) >= 4, timeout=90, what="retries of both customers")
    service.kill("project")  # SIGKILL while both customers' first alerts are retrying
    failing.clear()
    service.start("project", env=env)
    book = WebhookBook(service.views)
    wait_until(lambda: {d["status"] for d in book.log(endpoint["id"])} == {"delivered"}
               and len(book.log(endpoint["id"])) == 4, timeout=90, what="every alert delivered")
    with service.views.read() as db:
        db.execute(f"SELECT alert_id FROM {service.views.table('alerts')}")
        alert_ids = {row["alert_id"] for row in db.fetchall()}
    delivered = [r for r in receiver.got if r.answered == 200]
    assert {r.headers["webhook-id"] for r in delivered} == alert_ids and len(alert_ids) == 4
    assert all(verify(endpoint["secret"], r.headers, r.body, datetime.now(UTC))
               for r in receiver.got)
    for customer in ("C-1", "C-2"):  # each customer's alerts in the order they were queued
        queued = [d["event_id"] for d in reversed(book.log(endpoint["id"]))
                  if d["customer_id"] == customer]
        firsts = list(dict.fromkeys(r.headers["webhook-id"] for r in delivered
                                    if r.event["subject"] == customer))
        assert firsts == queued
