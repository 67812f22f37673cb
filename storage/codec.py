"""Encodings both history recorders share: a message's headers as one binary value,
and moments as integer microseconds."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch: an exact, portable, sortable moment."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Kafka headers (any names, any bytes) as JSON ``[[name, base64 value], ...]``: names
    may hold characters a text column refuses, so the whole goes in a binary column."""
    return orjson.dumps([[name, base64.b64encode(value or b"").decode()] for name, value in headers])


def decode_headers(blob: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, base64.b64decode(value)) for name, value in orjson.loads(blob))
