"""The AsyncAPI document: valid AsyncAPI 3.0, every topic the service reads or writes under
the deployment's names, and every message type with a payload schema that takes what the
service really sends and accepts (not ``{"type": "null"}``), its key and its headers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from projections.alerts import alert_message
from schemas.examples import EXAMPLES
from schemas.published import ALERT_PAYLOADS, SEGMENT_PAYLOADS, alert_cloudevent
from schemas.registry import EVENT_TYPES
from service import bootstrap
from service.settings import load_settings
from tests.asyncapi import messages, official_validator, resolve, validator
from tests.unit.test_published_events import raised_alerts

pytestmark = pytest.mark.unit

RENAMED = {"CRM_TOPIC_CONTACTS": "shop.contacts", "CRM_TOPIC_ORDERS": "shop.orders",
           "CRM_TOPIC_COMPLAINTS": "shop.complaints", "CRM_TOPIC_ACCOUNTS": "shop.accounts",
           "CRM_TOPIC_DEADLETTER": "shop.dlq", "CRM_TOPIC_ALERTS": "shop.alerts",
           "CRM_TOPIC_SEGMENTS": "shop.segments", "CRM_CONSUMER_GROUP": "shop-timeline"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in RENAMED.items():
            env.setenv(name, value)
        built = bootstrap.build_asyncapi(load_settings())
    return json.loads(json.dumps(built))  # as served: plain JSON


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    official = official_validator()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in official.iter_errors(document)]
    assert errors == []
    broken = copy.deepcopy(document)
    broken["operations"]["sendAlerts"]["action"] = "publish"  # AsyncAPI 2's word
    assert not official.is_valid(broken)


def test_every_topic_read_or_written_is_a_channel_under_its_configured_name(
        document: dict[str, Any]) -> None:
    assert {cid: c["address"] for cid, c in document["channels"].items()} == {
        "contacts": "shop.contacts", "orders": "shop.orders", "complaints": "shop.complaints",
        "accounts": "shop.accounts", "deadletter": "shop.dlq", "alerts": "shop.alerts",
        "segments": "shop.segments"}
    for channel in document["channels"].values():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]
    receive = {op["channel"]["$ref"] for op in document["operations"].values()
               if op["action"] == "receive"}
    assert receive == {f"#/channels/{c}" for c in ("contacts", "orders", "complaints", "accounts")}
    groups = {op["bindings"]["kafka"]["groupId"]["enum"][0]
              for op in document["operations"].values() if op["action"] == "receive"}
    assert groups == {"shop-timeline"}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if "$ref" in node else []) + [
                r for value in node.values() for r in refs(value)]
        return [r for value in node for r in refs(value)] if isinstance(node, list) else []
    found = refs(document)
    assert len(found) > 100
    for ref in set(found):
        assert resolve(document, {"$ref": ref}) is not None, ref


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_each_ingested_type_in_both_content_modes_takes_its_example(
        document: dict[str, Any], event_type: str) -> None:
    channel = {"account": "accounts", "order": "orders", "complaint": "complaints",
               "contact": "contacts", "survey": "contacts"}[event_type.split(".")[1]]
    found = messages(document, channel)
    example = EXAMPLES[event_type]
    structured, binary = found[event_type], found[f"{event_type}.binary"]
    validator(document, structured["payload"]).validate(example)
    assert not validator(document, structured["payload"]).is_valid({**example, "time": 5})
    validator(document, binary["payload"]).validate(example["data"])
    headers = {f"ce_{k}": str(v) for k, v in example.items()
               if k not in ("data", "datacontenttype")}
    headers["content-type"] = "application/json"
    validator(document, binary["headers"]).validate(headers)
    assert not validator(document, binary["headers"]).is_valid(
        {**headers, "ce_type": "crm.order.shipped"})
    for message in (structured, binary):
        assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_alerts_and_segment_changes_are_listed_with_their_payloads(
        document: dict[str, Any]) -> None:
    alerts, changes = messages(document, "alerts"), messages(document, "segments")
    assert set(alerts) == set(ALERT_PAYLOADS) and set(changes) == set(SEGMENT_PAYLOADS)
    for alert in raised_alerts():
        event = alert_cloudevent(json.loads(json.dumps(alert_message(alert))))
        message = alerts[event["type"]]
        validator(document, message["payload"]).validate(event)
        for other, schema in alerts.items():  # and no other alert type's payload takes it
            if other != event["type"]:
                assert not validator(document, schema["payload"]).is_valid(event), other
        headers = validator(document, message["headers"])
        headers.validate({"alert_id": alert.alert_id,
                          "content-type": "application/cloudevents+json"})
        assert not headers.is_valid({"alert_id": alert.alert_id})  # content-type is required
        assert message["contentType"] == "application/cloudevents+json"


def test_the_dead_letter_has_its_key_and_dlq_headers(document: dict[str, Any]) -> None:
    (letter,) = messages(document, "deadletter").values()
    headers = resolve(document, letter["headers"])
    assert {"dlq.key", "dlq.reason", "dlq.topic", "dlq.partition", "dlq.offset",
            "dlq.rejected_at", "dlq.content_type", "dlq.value_omitted",
            "content-type"} <= set(headers["properties"])
    key = validator(document, letter["bindings"]["kafka"]["key"])
    assert key.is_valid("crm.orders/3/17") and not key.is_valid("C-1")
    assert resolve(document, letter["payload"]) != {}
