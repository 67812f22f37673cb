"""A service under test: real Kafka, real database, real ``crm-timeline`` processes.

Each test gets its own topics, consumer group and database (a PostgreSQL schema
or an SQLite file), so tests never see each other's events.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from domain.facts import ReportedFact
from history.arrivals import Arrival
from projections.runner import Projector
from service import bootstrap
from service.settings import REPO_ROOT, Settings, load_settings
from service.topics import ensure_topics


class ServedApi:
    """The real API app (``bootstrap.build_api``) served over HTTP by uvicorn in a thread of
    the test process, on a free port: for clients that speak HTTP (a browser, the Python
    client, schemathesis) rather than through a TestClient."""

    def __init__(self, settings: Settings, history: Any, views: Any, *,
                 log_level: str = "warning") -> None:
        self.app = bootstrap.build_api(settings, history, views)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port,
                                                    log_level=log_level))
        self.thread = threading.Thread(target=self.server.run, name="served-api", daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20, what="the API to listen")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], Any], *, timeout: float = 60, what: str = "condition",
               interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class ServiceUnderTest:
    """Starts and kills the service's processes; publishes and reads like its users."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.settings: Settings = load_settings(
            **{k[4:].lower(): v for k, v in env.items() if k.startswith("CRM_")}
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._history = None
        self._views = None
        self._producer: KafkaProducer | None = None

    # processes -----------------------------------------------------------
    def start(self, command: str, *, name: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Run ``crm-timeline command``, with ``env`` beyond the service's; ``name`` tells two
        of one command apart (default: the command), for ``kill`` and the log file."""
        name = name or command
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", command],
            env={**os.environ, **self.env, **(env or {})},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for command in list(self.processes):
            process = self.processes.pop(command)
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    # Kafka -------------------------------------------------------------
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5, acks="all"
            )
        return self._producer

    def publish(self, topic: str, value: bytes | dict[str, Any], *, key: str | None = None,
                headers: list[tuple[str, bytes]] | None = None) -> None:
        payload = value if isinstance(value, bytes) else json.dumps(value).encode()
        self.producer.send(topic, value=payload, key=key.encode() if key else None,
                           headers=headers or [])

    def flush(self) -> None:
        self.producer.flush()

    def dead_letters(self, expected: int, timeout: float = 60) -> list[Any]:
        consumer = KafkaConsumer(
            self.settings.topic_deadletter,
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=1000,
        )
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(found) < expected and time.monotonic() < deadline:
                found.extend(consumer)
        finally:
            consumer.close()
        return found

    # store and read models ------------------------------------------------
    @property
    def history(self):  # noqa: ANN201
        if self._history is None:
            self._history = bootstrap.build_history(self.settings)
        return self._history

    @property
    def views(self):  # noqa: ANN201
        if self._views is None:
            self._views = bootstrap.build_views(self.settings, self.history)
        return self._views

    def stored_event_ids(self) -> list[str]:
        """Every stored fact's event id, read from the event store itself (duplicates kept)."""
        ids = []
        position = 0
        while batch := self.history.recorder.select_notifications(
            start=position, limit=1000, inclusive_of_start=False
        ):
            ids += [fact.event_id for fact in self.history.facts_of(batch, personal_data=False)]
            position = batch[-1].id
        return ids

    def timeline_positions(self) -> int:
        return self.views.position("timeline") or 0

    def api(self) -> TestClient:
        """The HTTP API, signed in with an admin key."""
        api = bootstrap.build_api(self.settings, self.history, self.views)
        key = api.state.keys.create("tests", "admin")
        return TestClient(api, headers={"Authorization": f"Bearer {key}"})

    def close(self) -> None:
        self.stop_all()
        if self._producer is not None:
            self._producer.close()
        if self._history is not None:
            self._history.close()


class Desk:
    """A store with every read model and the API, fed directly (ingestion is tested elsewhere),
    and the production projection loop, stepped by hand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.history = bootstrap.build_history(settings)
        self.views = bootstrap.build_views(settings, self.history)
        self.catalog = bootstrap.build_catalog(settings, self.history, self.views)
        self.loop = bootstrap.build_projection_loop(settings, self.history, self.views,
                                                    self.catalog)
        api = bootstrap.build_api(settings, self.history, self.views)
        self.admin_key = api.state.keys.create("tests", "admin")
        self.client = TestClient(api, headers={"Authorization": f"Bearer {self.admin_key}"})
        self.offset = 0

    def record(self, *facts: ReportedFact) -> None:
        """Record facts as if read from one Kafka partition, then bring every view up to date."""
        batch = []
        for fact in facts:
            self.offset += 1
            batch.append(Arrival("test:feed", self.offset, fact))
        self.history.record(batch)
        self.projector.catch_up()

    @property
    def projector(self) -> Projector:
        """The loop's projector over every read model (made again after a swap)."""
        return self.loop.projector()

    def page(self, customer: str = "C-1", **params: object) -> dict:
        response = self.client.get(f"/customers/{customer}/timeline", params=params)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def desk_on(store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    for name, value in store.items():
        monkeypatch.setenv(name, value)
    desk = Desk(load_settings())
    try:
        yield desk
    finally:
        desk.history.close()


@pytest.fixture
def desk(store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A desk on each store backend."""
    with desk_on(store, monkeypatch) as on_store:
        yield on_store


@pytest.fixture
def pg_desk(postgres_store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A desk on PostgreSQL, for what only PostgreSQL refuses."""
    with desk_on(postgres_store, monkeypatch) as on_store:
        yield on_store


@pytest.fixture(params=["postgres", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Store settings of one test: a fresh PostgreSQL schema or SQLite file."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
        return {"CRM_STORE": "postgres", "CRM_POSTGRES_SCHEMA": f"t_{uuid.uuid4().hex[:12]}"}
    return {"CRM_STORE": "sqlite", "CRM_SQLITE_PATH": str(tmp_path / "store.sqlite")}


@pytest.fixture
def postgres_store(postgres_server: Settings) -> dict[str, str]:
    return {"CRM_STORE": "postgres", "CRM_POSTGRES_SCHEMA": f"t_{uuid.uuid4().hex[:12]}"}


@contextmanager
def service_under_test(store: dict[str, str], logs: Path,
                       kafka_bootstrap: str | None = None) -> Iterator[ServiceUnderTest]:
    """The service on ``store`` with topics and a consumer group of its own (deleted after)."""
    run = uuid.uuid4().hex[:8]
    env = {
        "CRM_KAFKA_BOOTSTRAP": kafka_bootstrap or load_settings().kafka_bootstrap,
        "CRM_TOPIC_CONTACTS": f"t{run}.contacts",
        "CRM_TOPIC_ORDERS": f"t{run}.orders",
        "CRM_TOPIC_COMPLAINTS": f"t{run}.complaints",
        "CRM_TOPIC_ACCOUNTS": f"t{run}.accounts",
        "CRM_TOPIC_DEADLETTER": f"t{run}.deadletter",
        "CRM_TOPIC_ALERTS": f"t{run}.alerts",
        "CRM_TOPIC_SEGMENTS": f"t{run}.segments",
        "CRM_CONSUMER_GROUP": f"crm-test-{run}",
        "CRM_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "CRM_PROJECTION_POLL_SECONDS": "0.05",
        **store,
    }
    if store.get("CRM_STORE") == "postgres" and "CRM_POSTGRES_SCHEMA" not in store:
        env["CRM_POSTGRES_SCHEMA"] = f"t_{uuid.uuid4().hex[:12]}"
    service = ServiceUnderTest(env, logs)
    ensure_topics(service.settings)
    try:
        yield service
    finally:
        service.close()
        admin = KafkaAdminClient(bootstrap_servers=service.settings.kafka_bootstrap)
        try:
            admin.delete_topics([*service.settings.ingestion_topics, service.settings.topic_deadletter,
                                 service.settings.topic_alerts, service.settings.topic_segments])
        finally:
            admin.close()


@pytest.fixture
def service(kafka_bootstrap: str, store: dict[str, str], tmp_path: Path) -> Iterator[ServiceUnderTest]:
    """The service on each store backend."""
    with service_under_test(store, tmp_path, kafka_bootstrap) as running:
        yield running


@pytest.fixture
def pg_service(kafka_bootstrap: str, postgres_store: dict[str, str], tmp_path: Path) -> Iterator[ServiceUnderTest]:
    """The service on PostgreSQL, the production store."""
    with service_under_test(postgres_store, tmp_path, kafka_bootstrap) as running:
        yield running
