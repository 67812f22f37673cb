"""What operators see: Prometheus metrics, /readyz, `crm-timeline status`, JSON logs, SIGTERM."""

from __future__ import annotations

import json
import signal

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service import bootstrap
from service.cli import main
from tests.events import contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, free_port, wait_until

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text as {(sample name, labels): value}."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_operators_see_counts_lag_and_readiness_and_the_service_stops_gracefully(
    pg_service: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    service = pg_service
    metrics_port = free_port()
    service.env.update(CRM_METRICS_PORT=str(metrics_port), CRM_LOG_FORMAT="json")
    s = service.settings
    for n in range(5):
        service.publish(s.topic_contacts, contact("C-1", hours_ago(n), event_id=f"c-{n}"), key="C-1")
    for n in range(3):
        service.publish(s.topic_orders, order("C-2", hours_ago(n), f"O-{n}", event_id=f"o-{n}"),
                        key="C-2")
    service.publish(s.topic_contacts, contact("C-1", hours_ago(0), event_id="c-0"), key="C-1")
    service.publish(s.topic_orders, b"{not json", key="C-3")
    broken = order("C-3", hours_ago(1), "O-9", event_id="o-bad")
    broken["data"]["currency"] = "euros, from ann@example.com"
    service.publish(s.topic_orders, broken, key="C-3")
    service.flush()

    consumer = service.start("consume")
    wait_until(lambda: len(service.stored_event_ids()) == 8, what="8 events stored")
    assert len(service.dead_letters(2)) == 2

    def consumer_metrics() -> dict:
        return samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)

    counted = wait_until(lambda: (m := consumer_metrics()) and value(
        m, "crm_events_dead_lettered_total", type="crm.order.placed") == 1 and m,
        what="the consumer's counters")
    assert value(counted, "crm_events_stored_total", type="crm.contact.logged") == 5
    assert value(counted, "crm_events_stored_total", type="crm.order.placed") == 3
    assert value(counted, "crm_events_duplicate_total", type="crm.contact.logged") == 1
    assert value(counted, "crm_events_dead_lettered_total", type="unknown") == 1
    assert value(counted, "crm_events_consumed_total", type="crm.contact.logged") == 6
    assert value(counted, "crm_events_consumed_total", type="crm.order.placed") == 4

    # Stored but not projected yet: not ready once the oldest waits longer than allowed.
    strict = s.model_copy(update={"ready_max_lag_seconds": 0.5})
    api = bootstrap.build_api(strict, service.history, service.views)
    key = api.state.keys.create("ops", "agent")
    client = TestClient(api)
    waiting = wait_until(lambda: (r := client.get("/readyz")).status_code == 503 and r,
                         what="/readyz to see the projections behind")
    assert any(reason.startswith("read model timeline is") for reason in waiting.json()["reasons"])
    assert waiting.json()["consumer_lag"] == 0

    service.env["CRM_METRICS_PORT"] = str(free_port())  # its own, or it stops naming the port
    projector = service.start("project")
    ready = wait_until(lambda: (r := client.get("/readyz")).status_code == 200 and r,
                       what="/readyz to turn ready")
    assert ready.json()["status"] == "ready"
    timed = {"method": "GET", "route": "/customers/{customer_id}/timeline", "status": "200"}
    before = value(samples(client.get("/metrics").text), "crm_api_request_duration_seconds_count",
                   **timed)  # the histogram is the process's: other tests' requests count too
    assert client.get("/customers/C-1/timeline",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 200

    scraped = samples(client.get("/metrics").text)
    assert value(scraped, "crm_dead_letters") == 2
    assert value(scraped, "crm_dead_letter_backlog") == 0
    assert value(scraped, "crm_projection_lag_events", read_model="timeline") == 0
    assert value(scraped, "crm_projection_position", read_model="timeline") > 0
    lags = {labels: v for (name, labels), v in scraped.items() if name == "crm_consumer_lag"}
    assert len(lags) == 4 * s.topic_partitions and not any(lags.values())
    assert value(scraped, "crm_dependency_up", dependency="kafka") == 1
    assert value(scraped, "crm_api_request_duration_seconds_count", **timed) == before + 1
    assert value(scraped, "crm_alert_outbox_backlog") == 0

    for name, variable in service.env.items():
        monkeypatch.setenv(name, variable)
    assert main(["status"]) == 0
    screen = capsys.readouterr().out
    assert "consumer lag" in screen and ": 0 messages" in screen
    assert f"dead letters: 2 recorded, 0 waiting for {s.topic_deadletter}" in screen
    assert "timeline " in screen and "PROBLEM" not in screen

    # SIGTERM: each process finishes what it holds and exits cleanly.
    for process, log, last_words in ((consumer, "consume.log", "ingestion stopped"),
                                     (projector, "project.log", "projections stopped")):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        lines = [json.loads(line) for line in (service.logs / log).read_text().splitlines()
                 if line.startswith("{")]
        assert lines and lines[-1]["message"] == last_words
    lines = [json.loads(line) for line in (service.logs / "consume.log").read_text().splitlines()
             if line.startswith("{")]
    dead = [line for line in lines if line["message"].startswith("dead-lettered")]
    assert {(d.get("event_id"), d.get("customer_id")) for d in dead} == {(None, None),
                                                                          ("o-bad", "C-3")}
    assert "ann@example.com" not in (service.logs / "consume.log").read_text()


def test_readyz_names_an_unreachable_kafka(pg_service: ServiceUnderTest) -> None:
    settings = pg_service.settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    api = bootstrap.build_api(settings, pg_service.history, pg_service.views)
    answer = TestClient(api).get("/readyz")
    assert answer.status_code == 503
    assert any(r.startswith("Kafka at 127.0.0.1:1") for r in answer.json()["reasons"])
    assert "crm_dependency_up{dependency=\"kafka\"} 0.0" in TestClient(api).get("/metrics").text
