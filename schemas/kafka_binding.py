"""How a Kafka record carries a CloudEvent: its content mode and its framing.

The CloudEvents Kafka protocol binding decides the content mode by the
``content-type`` header: a media type starting with ``application/cloudevents``
is structured mode (the value is the whole event; ``ce_*`` headers beside it are
not read), anything else with ``ce_*`` headers is binary mode (the headers carry
the attributes, the value is the data, ``content-type`` its media type, which may
be absent). Upstreams that send a bare JSON CloudEvent with no headers at all
are read as structured, as they always were: with neither a cloudevents
``content-type`` nor a ``ce_*`` header, there is nothing else it could be.

A schema registry's JSON serializer (Confluent's wire format) puts a magic byte
0x00 and a 4-byte big-endian schema id before the JSON. JSON text never starts
with 0x00, so the frame is told apart without doubt; it is taken off, and the
schema id kept with the fact (the registry's schema is the sender's business:
the event is validated against this service's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from schemas.refusals import CONTENT_MODE, FRAMING, HEADER, InvalidEvent

ContentMode = Literal["structured", "binary"]

_CLOUDEVENTS = "application/cloudevents"
_STRUCTURED_JSON = "application/cloudevents+json"
#: The first byte of a schema registry's frame, then the schema id, then the payload.
MAGIC_BYTE = 0
_FRAME = 5


def content_mode(headers: Sequence[tuple[str, bytes | None]]) -> ContentMode:
    """Structured or binary, as the Kafka binding decides it (this module's docstring);
    InvalidEvent for a cloudevents media type other than a single JSON event."""
    content_type = next((v for name, v in headers if name == "content-type"), None)
    if content_type is not None:
        try:
            media_type = content_type.decode("utf-8").split(";", 1)[0].strip().lower()
        except UnicodeDecodeError:
            raise InvalidEvent("header content-type is not UTF-8", HEADER) from None
        if media_type.startswith(_CLOUDEVENTS):
            if media_type != _STRUCTURED_JSON:
                raise InvalidEvent(
                    f"content-type {media_type[:60]!r}: only single events in the JSON format "
                    f"({_STRUCTURED_JSON}) are read; send batches one event per message",
                    CONTENT_MODE)
            return "structured"
    if any(name.startswith("ce_") for name, _ in headers):
        return "binary"
    return "structured"


def unframe(value: bytes) -> tuple[bytes, int | None]:
    """The value without a schema registry's frame, and the schema id it named (None:
    not framed). InvalidEvent for a frame cut short or with nothing after it."""
    if not value or value[0] != MAGIC_BYTE:
        return value, None
    if len(value) <= _FRAME:
        raise InvalidEvent(
            f"message value starts with a schema registry's magic byte 0x00 but holds "
            f"{len(value)} bytes: the framing is 0x00, a 4-byte schema id, then the JSON",
            FRAMING)
    return value[_FRAME:], int.from_bytes(value[1:_FRAME], "big")
