"""The AsyncAPI 3.0 document of the Kafka side: every topic the service reads or writes.

Built here from the same pydantic models as ``schemas/json/``, not by FastStream: its
generator (0.7) has no message headers, keys or message bindings, and describes a
payload by a handler's annotation, while this service's consumers take raw bytes. So
the document owns what a Kafka client needs: each channel's address (from settings),
its messages with their payload schema, key and headers (``ce_*`` in binary mode,
``content-type``, ``dlq.*``, ``alert_id``, ``change_id``), and Kafka bindings.

Payload schemas live once under ``components/schemas`` (their ``$ref``s point there), in
the JSON Schema subset AsyncAPI's default schema format (draft-07) reads the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.export import ingested_event, published_event
from schemas.published import (
    ALERT_PAYLOADS,
    CLOUDEVENTS_JSON,
    DEADLETTER_CONTENT_TYPE,
    ORIGINAL_CONTENT_TYPE_HEADER,
    SEGMENT_PAYLOADS,
)
from schemas.registry import EVENT_TYPES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class KafkaTopics:
    """Where each channel lives, as the deployment's settings name it."""

    bootstrap_servers: str
    consumer_group: str
    #: ingestion topic -> the event types that travel on it
    ingestion: Mapping[str, Sequence[str]]
    deadletter: str
    alerts: str
    segments: str
    partitions: int | None = None
    replicas: int | None = None
    #: channel id of each ingestion topic (default: the topic's last dotted part)
    names: Mapping[str, str] = field(default_factory=dict)

    def channel_id(self, topic: str) -> str:
        return self.names.get(topic) or topic.rsplit(".", 1)[-1]


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_CUSTOMER_KEY = _string("The customer id: one customer's messages stay in order on one "
                        "partition.", minLength=1, maxLength=64)
_STRUCTURED_CONTENT_TYPE = _string(
    "`application/cloudevents+json`: the value is the whole CloudEvent (structured mode).",
    enum=[CLOUDEVENTS_JSON])


def _binary_headers(event_type: str) -> dict[str, Any]:
    """Binary mode: the attributes as ``ce_*`` headers, ``content-type`` the data's type."""
    return {
        "type": "object",
        "description": "CloudEvents binary mode: attributes as `ce_*` headers (UTF-8), the "
                       "value is `data`. Further `ce_*` headers are extension attributes "
                       "(kept with the fact). The mode is the Kafka binding's: a "
                       "`content-type` starting with `application/cloudevents` is structured "
                       "whatever `ce_*` headers it has; otherwise `ce_*` headers make it binary, "
                       "with or without `content-type`. A value framed by a schema registry "
                       "(0x00 and a 4-byte schema id) is read in either mode.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject",
                     "ce_time"],
        "properties": {
            "ce_specversion": _string("CloudEvents version.", enum=["1.0"]),
            "ce_id": _string("Unique event id: the idempotency key.", minLength=1,
                             maxLength=200),
            "ce_source": _string("The upstream system.", minLength=1, maxLength=500),
            "ce_type": _string("The event type.", enum=[event_type]),
            "ce_subject": _string("The customer id.", minLength=1, maxLength=64),
            "ce_time": _string("When it happened, RFC 3339 with offset.", format="date-time"),
            "ce_dataschema": _string("Optional: the schema of the data.", maxLength=500),
            "ce_traceparent": _string("Optional W3C trace context (an extension attribute)."),
            "content-type": _string("The data's media type (datacontenttype): a JSON type.",
                                    pattern=r"^application/([a-z0-9.+-]+\+)?json(;.*)?$"),
        },
    }


def _message(name: str, summary: str, payload_ref: str, headers: dict[str, Any],
             key: dict[str, Any], content_type: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary, "contentType": content_type,
            "payload": {"$ref": payload_ref}, "headers": headers,
            "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING}}, **extra}


def _schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """(``type`` or ``type.data`` -> ``$ref``, the schemas under components)."""
    models: dict[str, Any] = {}
    for event_type, payload in EVENT_TYPES.items():
        models[event_type] = ingested_event(event_type)
        models[f"{event_type}.data"] = payload
    for event_type in (*ALERT_PAYLOADS, *SEGMENT_PAYLOADS):
        models[event_type] = published_event(event_type)
    keys, definitions = models_json_schema(
        [(model, "validation") for model in models.values()], ref_template=_REF)
    refs = {name: keys[(model, "validation")]["$ref"] for name, model in models.items()}
    return refs, definitions.get("$defs", {})


def asyncapi_document(topics: KafkaTopics) -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document, as a JSON-ready dict."""
    refs, schemas = _schemas()
    schemas["DeadLetterValue"] = {
        "description": "The rejected message's value, byte for byte as it arrived (possibly "
                       "not JSON, possibly not UTF-8); absent when `dlq.value_omitted` is set.",
        "type": ["string", "null"], "contentMediaType": DEADLETTER_CONTENT_TYPE}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(channel_id: str, address: str, description: str, names: list[str]) -> None:
        kafka: dict[str, Any] = {"topic": address, "bindingVersion": KAFKA_BINDING}
        if topics.partitions:
            kafka["partitions"] = topics.partitions
        if topics.replicas:
            kafka["replicas"] = topics.replicas
        channels[channel_id] = {
            "address": address, "title": address, "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": kafka}}

    def operation(operation_id: str, action: str, channel_id: str, summary: str,
                  group: bool = False) -> None:
        entry: dict[str, Any] = {
            "action": action, "summary": summary,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{n}"}
                         for n in channels[channel_id]["messages"]]}
        if group:
            entry["bindings"] = {"kafka": {
                "groupId": {"type": "string", "enum": [topics.consumer_group]},
                "bindingVersion": KAFKA_BINDING}}
        operations[operation_id] = entry

    for address, event_types in topics.ingestion.items():
        names = []
        for event_type in event_types:
            messages[event_type] = _message(
                event_type, f"{event_type} in structured mode.", refs[event_type],
                {"type": "object", "properties": {"content-type": _STRUCTURED_CONTENT_TYPE}},
                _CUSTOMER_KEY, CLOUDEVENTS_JSON)
            messages[f"{event_type}.binary"] = _message(
                f"{event_type}.binary", f"{event_type} in binary mode.",
                refs[f"{event_type}.data"], _binary_headers(event_type), _CUSTOMER_KEY,
                "application/json")
            names += [event_type, f"{event_type}.binary"]
        channel_id = topics.channel_id(address)
        channel(channel_id, address, "CloudEvents about customers from upstream systems; "
                "each stored exactly once per event id, or dead-lettered with the reason.",
                names)
        title = channel_id.title()
        operation(f"ingest{title}", "receive", channel_id,
                  "Validated and stored once per event id; invalid ones are dead-lettered.",
                  group=True)
        operation(f"publish{title}", "send", channel_id,
                  "`POST /events` and `deadletter redrive` publish here, as upstream would.")

    messages["deadLetter"] = _message(
        "deadLetter", "A rejected message, once per key `topic/partition/offset`.",
        "#/components/schemas/DeadLetterValue", _deadletter_headers(),
        _string("`topic/partition/offset` of the rejected message: the letter's identity.",
                pattern=r"^.+/[0-9]+/[0-9]+$"),
        DEADLETTER_CONTENT_TYPE)
    channel("deadletter", topics.deadletter, "Rejected messages with the original value and "
            "headers and the reason; readers keep one copy per key.", ["deadLetter"])
    operation("sendDeadLetters", "send", "deadletter",
              "The dead-letter relay publishes what the consumer recorded.")

    def outbox_channel(channel_id: str, address: str, description: str, kind: str,
                       id_header: str, payloads: Iterable[str], operation_id: str,
                       summary: str) -> None:
        """A channel the service publishes through an outbox: CloudEvents with a stable
        id in a header of their own, so consumers drop repeats."""
        headers = {"type": "object", "required": [id_header, "content-type"], "properties": {
            id_header: _string(f"The {kind} id (the CloudEvent `id`): drop repeats by it."),
            "content-type": _STRUCTURED_CONTENT_TYPE}}
        for event_type in payloads:
            messages[event_type] = _message(
                event_type, f"{kind.capitalize()} {event_type} as a CloudEvent.",
                refs[event_type], headers, _CUSTOMER_KEY, CLOUDEVENTS_JSON,
                correlationId={"location": f"$message.header#/{id_header}"})
        channel(channel_id, address, description, list(payloads))
        operation(operation_id, "send", channel_id, summary)

    outbox_channel("alerts", topics.alerts, "Alerts about customers (SLA, contact fatigue, "
                   "consent, follow-ups, anomalies) through the outbox: at least once, stable "
                   "ids.", "alert", "alert_id", ALERT_PAYLOADS, "sendAlerts",
                   "The alert relay publishes queued alerts.")
    outbox_channel("segments", topics.segments, "Every entry into and exit from a segment, "
                   "through the outbox: at least once, stable ids.", "segment change",
                   "change_id", SEGMENT_PAYLOADS, "sendSegmentChanges",
                   "The segment relay publishes entries and exits.")

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "CRM customer timeline", "version": "1.0.0",
                 "description": "CloudEvents about customers in; dead letters, alerts and "
                                "segment changes out. JSON Schema per type: `schemas/json/`."},
        "defaultContentType": CLOUDEVENTS_JSON,
        "servers": {"kafka": {"host": topics.bootstrap_servers.split(",")[0],
                              "protocol": "kafka", "description": "The Kafka cluster."}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _deadletter_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The original headers as sent (except `content-type`, kept as "
                       "`dlq.content_type`), then the letter's own.",
        "required": ["dlq.reason", "dlq.error.class", "dlq.topic", "dlq.partition",
                     "dlq.offset", "dlq.rejected_at", "content-type"],
        "properties": {
            "content-type": _string("The letter's own: the value is the rejected bytes.",
                                    enum=[DEADLETTER_CONTENT_TYPE]),
            ORIGINAL_CONTENT_TYPE_HEADER: _string("The original message's `content-type`, if it had "
                                        "one."),
            "dlq.key": _string("The original message key, if it had one."),
            "dlq.reason": _string("Why it was rejected, in words."),
            "dlq.error.class": _string("Why it was rejected, as a class for machines "
                                       "(`not_json`, `schema`, `unknown_type`, `future_time`, "
                                       "`refused_by_store`, ...; the README lists them: new "
                                       "ones may be added, none renamed).",
                                       pattern="^[a-z_]+$"),
            "dlq.timestamp": _string("The original record's timestamp, milliseconds since "
                                     "the epoch (absent if it had none).", pattern="^[0-9]+$"),
            "dlq.consumer_group": _string("The consumer group that rejected it."),
            "dlq.topic": _string("The topic it was read from."),
            "dlq.partition": _string("Its partition there.", pattern="^[0-9]+$"),
            "dlq.offset": _string("Its offset there.", pattern="^[0-9]+$"),
            "dlq.rejected_at": _string("When it was rejected, RFC 3339.", format="date-time"),
            "dlq.value_omitted": _string("Present when the value and original headers were "
                                         "too large to publish: `N bytes`; the event store "
                                         "keeps the whole message."),
            "dlq.redriven_from": _string("On a message re-driven and rejected again: the "
                                         "letter `PARTITION:OFFSET` it was re-driven from."),
        },
    }
