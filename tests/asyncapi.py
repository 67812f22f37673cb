"""Reading the AsyncAPI document as a receiver would: a channel's messages, and validators
for a message's payload, headers and key, with ``$ref``s resolved inside the document."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema

FIXTURE = Path(__file__).parent / "fixtures" / "asyncapi" / "asyncapi-3.0.0.json"
#: sha256 of the vendored file, as tests/fixtures/README.md gives it.
FIXTURE_SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"


def official_validator() -> jsonschema.Draft7Validator:
    """The AsyncAPI 3.0.0 JSON Schema of the npm package ``@asyncapi/specs``."""
    text = FIXTURE.read_bytes()
    assert hashlib.sha256(text).hexdigest() == FIXTURE_SHA256, "the vendored schema changed"
    return jsonschema.Draft7Validator(json.loads(text))


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        at: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            at = at[part.replace("~1", "/").replace("~0", "~")]
        node = at
    return node


def messages(document: dict[str, Any], channel_id: str) -> dict[str, dict[str, Any]]:
    """The channel's messages by id, resolved."""
    return {name: resolve(document, ref)
            for name, ref in document["channels"][channel_id]["messages"].items()}


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A validator of ``schema`` whose ``#/components/...`` references reach the document."""
    return jsonschema.Draft202012Validator({**document, **schema},
                                           format_checker=jsonschema.FormatChecker())


def check_record(document: dict[str, Any], channel_id: str, record: Any) -> dict[str, Any]:
    """Validate a consumed Kafka record (kafka-python) against the channel's message of its
    CloudEvent type: payload, headers (decoded as UTF-8) and key; returns the event."""
    event = json.loads(record.value)
    message = messages(document, channel_id)[event["type"]]
    validator(document, message["payload"]).validate(event)
    headers = {name: value.decode() for name, value in record.headers}
    validator(document, message["headers"]).validate(headers)
    validator(document, message["bindings"]["kafka"]["key"]).validate(record.key.decode())
    assert message["contentType"] == headers["content-type"]
    return event
