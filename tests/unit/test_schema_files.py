"""The published JSON Schema files are exactly what the service accepts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jsonschema
import pytest

from schemas.examples import EXAMPLES
from schemas.export import SCHEMA_DIR, export_json_schemas, json_schemas, schema_drift
from schemas.validation import InvalidEvent, parse_event

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)


@cache
def published(event_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def service_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_event(event, now=NOW, max_future=timedelta(days=1))
    except InvalidEvent:
        return False
    return True


def changed(event_type: str, **data: Any) -> dict[str, Any]:
    """The example of a type with some data fields replaced (``...`` removes one)."""
    event = copy.deepcopy(EXAMPLES[event_type])
    for name, value in data.items():
        if value is ...:
            del event["data"][name]
        else:
            event["data"][name] = value
    return event


def test_committed_schema_files_match_the_models() -> None:
    drift = schema_drift()
    assert drift == [], (
        f"schemas/json drifted from the models, run `python -m schemas.export`: {drift}"
    )


def test_export_is_deterministic_and_reports_its_own_drift(tmp_path: Any) -> None:
    written = export_json_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(json_schemas())
    assert schema_drift(tmp_path) == []
    (tmp_path / "crm.order.placed.json").write_text("{}\n")
    (tmp_path / "crm.order.shipped.json").write_text("{}\n")
    (tmp_path / "cloudevent.json").unlink()
    assert schema_drift(tmp_path) == [
        "missing cloudevent.json", "extra crm.order.shipped.json", "differs crm.order.placed.json"
    ]


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_each_example_validates_against_its_published_schema(event_type: str) -> None:
    published(event_type).validate(EXAMPLES[event_type])


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_the_envelope_schema_accepts_every_example(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / "cloudevent.json").read_text())
    jsonschema.validate(EXAMPLES[event_type], schema, cls=jsonschema.Draft202012Validator)


#: Events the service refuses for a reason JSON Schema can express: the schema must refuse them too.
REFUSED_BY_BOTH = {
    "negative amount": changed("crm.order.placed", amount="-5.00"),
    "amount as a number": changed("crm.order.placed", amount=129.9),
    "three decimal places": changed("crm.order.placed", amount="1.234"),
    "exponent": changed("crm.order.placed", amount="1e3"),
    "lowercase currency": changed("crm.order.placed", currency="eur"),
    "zero quantity": changed("crm.order.placed", items=[{"sku": "S", "name": "N", "quantity": 0,
                                                        "unit_price": "1.00"}]),
    "unknown field": changed("crm.contact.logged", mood="grumpy"),
    "unknown channel": changed("crm.contact.logged", channel="pigeon"),
    "duration as a string": changed("crm.contact.logged", duration_seconds="245"),
    "granted as a string": changed("crm.account.consent_changed", granted="yes"),
    "nps out of range": changed("crm.survey.answered", nps=11),
    "no score": changed("crm.survey.answered", nps=..., csat=...),
    "only null scores": changed("crm.survey.answered", nps=None, csat=None),
    "no profile change": changed("crm.account.updated", changes={}),
    "unknown profile field": changed("crm.account.updated", changes={"mood": "happy"}),
    "e-mail with a space": changed("crm.account.opened", email="greta novak@example.com"),
    "pause without reason": changed("crm.complaint.paused", reason=...),
    "follow-up time without the outcome": changed("crm.contact.logged",
                                                  follow_up_at="2026-11-21T09:00:00Z"),
    "social handle on the phone": changed("crm.contact.logged", handle="@ada"),
    "platform on e-mail": changed("crm.contact.logged", channel="email", platform="x"),
    "unknown actor kind": changed("crm.account.updated", actor={"kind": "robot"}),
    "naive time": {**EXAMPLES["crm.order.placed"], "time": "2026-11-20T14:05:00"},
    "time as a number": {**EXAMPLES["crm.order.placed"], "time": 1_763_647_500},
    "time without seconds": {**EXAMPLES["crm.order.placed"], "time": "2026-11-20T14:05+01:00"},
    "subject too long": {**EXAMPLES["crm.order.placed"], "subject": "C" * 65},
    "subject with padding": {**EXAMPLES["crm.order.placed"], "subject": "C-10042 "},
    "empty id": {**EXAMPLES["crm.order.placed"], "id": ""},
    "old specversion": {**EXAMPLES["crm.order.placed"], "specversion": "0.3"},
    "non-JSON data type": {**EXAMPLES["crm.order.placed"], "datacontenttype": "text/plain"},
}

#: Events both must accept: what upstream teams may rely on beyond the examples.
ACCEPTED_BY_BOTH = {
    "UTC time with Z": {**EXAMPLES["crm.order.placed"], "time": "2026-11-20T13:05:00.250Z"},
    "extension attribute": {**EXAMPLES["crm.order.placed"], "traceparent": "00-abc-def-01"},
    "no datacontenttype": {name: value for name, value in EXAMPLES["crm.order.placed"].items()
                           if name != "datacontenttype"},
    "total only": changed("crm.order.placed", items=...),
    "charset parameter": {**EXAMPLES["crm.order.placed"],
                          "datacontenttype": "application/json; charset=utf-8"},
    "bare contact": changed("crm.contact.logged", agent_id=..., subject=..., outcome=...,
                            duration_seconds=...),
    "csat only": changed("crm.survey.answered", nps=None),
    "clearing a field": changed("crm.account.updated", changes={"address": None}),
    "follow-up due at a time": changed("crm.contact.logged", outcome="follow_up",
                                       follow_up_at="2026-11-21T09:00:00+01:00"),
    "null follow-up time": changed("crm.contact.logged", follow_up_at=None),
    "social identity": changed("crm.contact.logged", channel="social", platform="instagram",
                               handle="@ada_l"),
    "complaint about an order's product": changed("crm.complaint.opened", order_id="O-1042",
                                                  sku="SKU-104"),
    "an agent's change": changed("crm.account.updated",
                                 actor={"kind": "agent", "id": "A-007"}),
    "the customer's own change": changed("crm.account.consent_changed",
                                         actor={"kind": "customer"}),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_what_the_service_refuses_the_schema_refuses(case: str) -> None:
    event = REFUSED_BY_BOTH[case]
    assert not service_accepts(event)
    assert not published(event["type"]).is_valid(event)


@pytest.mark.parametrize("case", sorted(ACCEPTED_BY_BOTH))
def test_what_the_schema_accepts_the_service_accepts(case: str) -> None:
    event = ACCEPTED_BY_BOTH[case]
    assert service_accepts(event)
    published(event["type"]).validate(event)



def test_each_file_describes_exactly_one_type() -> None:
    placed = {**EXAMPLES["crm.order.placed"], "type": "crm.order.cancelled"}
    assert not published("crm.order.placed").is_valid(placed)
