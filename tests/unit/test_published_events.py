"""What the service publishes is a CloudEvent of its own type, valid against that type's
JSON Schema in ``schemas/json/``: every alert kind (each anomaly reason too) and both
segment changes, built by the code that raises them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from functools import cache
from pathlib import Path
from unittest.mock import MagicMock

import jsonschema
import pytest

from domain.alerts import Alert, sla_alert
from domain.anomalies import anomalies
from domain.complaints import Verdict
from domain.customer360 import FatiguePolicy, _outbound_alerts
from domain.follow_ups import FollowUp, overdue_alert
from projections.alerts import alert_message
from projections.set_aside import SetAsideBook
from schemas.export import SCHEMA_DIR, export_json_schemas, json_schemas
from schemas.published import (
    ALERT_PAYLOADS,
    ALERT_TYPES,
    ANOMALY_TYPES,
    PUBLISHED_TYPES,
    alert_cloudevent,
    segment_cloudevent,
)
from schemas.registry import EVENT_TYPES
from service.settings import REPO_ROOT
from tests.facts import T, contact, days, fact, order

pytestmark = pytest.mark.unit

MINUTE = timedelta(minutes=1)


@cache
def schema_of(event_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def raised_alerts() -> list[Alert]:
    """One alert of every kind, from the rules that raise them."""
    found = [sla_alert("C-1", Verdict("K-1", kind, "first_response", 0, "high",
                                      T, T - timedelta(hours=1)))
             for kind in ("breach", "at_risk")]
    outbound = [T - days(3 - i) for i in range(4)]
    found += _outbound_alerts("C-1", contact(T, "outbound", "email"), outbound,
                              {"email": False}, FatiguePolicy())
    found.append(overdue_alert(FollowUp("follow_up:e-9", "C-1", T - days(2), T - days(1),
                                        "A-7", "phone")))
    found.append(overdue_alert(FollowUp("follow_up:e-10", "C-1", T - days(2), T - days(1))))
    usual = [order(T - days(50 - 7 * i), f"O-{i}", a)
             for i, a in enumerate(["10.00", "11.00", "12.00", "10.00", "11.00"])]
    found += anomalies("C-1", [*usual, order(T, "O-big", "330.00")])
    found += anomalies("C-1", [order(T + n * MINUTE, f"O-b{n}", "10.00") for n in range(3)])
    refunds = [fact("crm.order.refunded", T + days(i), order_id=f"O-{i}", amount="5.00",
                    currency="EUR") for i in range(3)]
    found += anomalies("C-1", [*usual, *refunds])
    found += anomalies("C-1", [fact("crm.account.updated", T, changes={"email": "x@y.z"}),
                               order(T + 30 * MINUTE, "O-t", "10.00")])
    views = MagicMock()
    views.table.side_effect = lambda name: name
    found.append(SetAsideBook(views)._record(MagicMock(), "customer360", 42,
                                             order(T, "O-s", "1.00"), ValueError("bad\tdata")))
    return found


def test_every_alert_kind_and_anomaly_reason_is_published_as_its_own_cloudevent() -> None:
    alerts = raised_alerts()
    events = [alert_cloudevent(json.loads(json.dumps(alert_message(a)))) for a in alerts]
    assert {e["type"] for e in events} == set(ALERT_PAYLOADS)  # every type, none unknown
    for event, alert in zip(events, alerts, strict=True):
        schema_of(event["type"]).validate(event)
        assert event["id"] == alert.alert_id and event["subject"] == alert.customer_id
        assert event["time"] == alert.raised_at.isoformat()
        assert event["data"] == json.loads(json.dumps(alert_message(alert)))  # today's payload
        assert event["source"] == "crm-timeline/alerts" and event["specversion"] == "1.0"
        assert event["dataschema"] == f"urn:crm-timeline:schema:{event['type']}:1"


def test_each_type_schema_refuses_another_types_event() -> None:
    breach, at_risk = [alert_cloudevent(alert_message(a)) for a in raised_alerts()[:2]]
    assert not schema_of("crm.sla.breached").is_valid({**breach, "type": "crm.sla.at_risk"})
    assert not schema_of("crm.sla.at_risk").is_valid(breach)
    assert schema_of("crm.sla.at_risk").is_valid(at_risk)
    extra = {**breach, "data": {**breach["data"], "mood": "grumpy"}}
    assert not schema_of("crm.sla.breached").is_valid(extra)  # an unannounced field fails


@pytest.mark.parametrize("entered", [True, False])
def test_segment_changes_are_cloudevents_of_their_own_type(entered: bool) -> None:
    kind = "crm.segment.entered" if entered else "crm.segment.exited"
    message = {"change_id": "6b1f", "type": kind, "segment": "reachable", "version": 2,
               "customer_id": "C-1", "at": T.isoformat(), "reasons": ["yes: loyalty.tier"]}
    event = segment_cloudevent(message)
    schema_of(kind).validate(event)
    assert (event["id"], event["subject"], event["type"], event["data"]) == (
        "6b1f", "C-1", kind, message)
    assert event["source"] == "crm-timeline/segments"
    other = "crm.segment.exited" if entered else "crm.segment.entered"
    assert not schema_of(other).is_valid(event)


def test_every_published_type_has_its_schema_file_and_each_kind_its_type() -> None:
    assert {p.stem for p in SCHEMA_DIR.glob("crm.*.json")} >= set(PUBLISHED_TYPES)
    assert sorted([*ALERT_TYPES.values(), *ANOMALY_TYPES.values()]) == sorted(ALERT_PAYLOADS)


def test_schemas_export_writes_every_schema_and_the_asyncapi_document(tmp_path: Path) -> None:
    (tmp_path / "ours.json").write_text("{}")  # someone else's file: left alone
    done = subprocess.run([sys.executable, "-m", "service.cli", "schemas", "export",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True)
    written = {p.name: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}
    assert written == {**json_schemas(), "asyncapi.json": written["asyncapi.json"]}
    assert {f"{t}.json" for t in [*EVENT_TYPES, *PUBLISHED_TYPES]} < set(written)
    assert written["asyncapi.json"]["asyncapi"] == "3.0.0"
    assert f"{len(written) - 1} JSON Schemas and asyncapi.json written" in done.stdout
    export_json_schemas(tmp_path, prune=False)
    assert (tmp_path / "ours.json").read_text() == "{}"
