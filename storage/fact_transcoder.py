"""How stored facts become bytes: the library's JSON format, written and read by orjson.

The library's ``JSONTranscoder`` calls a Python hook for every object it
decodes and every value it cannot encode; profiles of ingestion and of the
projections put it among the largest costs. This transcoder writes the same
format (datetimes, UUIDs and decimals as ``{"_type_": ..., "_data_": ...}``),
so either can read what the other wrote, at a fraction of the cost.

It relies on what a stored fact is: its own attributes at the top level
(``occurred_at`` and ``timestamp`` are datetimes) and ``data``, the validated
payload, already JSON (``model_dump(mode="json")``). So only top-level values
are tagged; a datetime or decimal nested deeper is refused when encoding
rather than coming back as a string.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_TAGS = {datetime: "datetime_iso", UUID: "uuid_hex", Decimal: "decimal_str"}
_ENCODE = {
    datetime: lambda value: value.isoformat(),
    UUID: lambda value: value.hex,
    Decimal: str,
}
_DECODE = {"datetime_iso": datetime.fromisoformat, "uuid_hex": UUID, "decimal_str": Decimal}


class FactTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        tagged = {
            key: {"_type_": _TAGS[type(value)], "_data_": _ENCODE[type(value)](value)}
            if type(value) in _TAGS else value
            for key, value in obj.items()
        }
        # Nested datetimes raise (passed through to no default) instead of becoming strings.
        return orjson.dumps(tagged, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        for key, value in obj.items():
            if type(value) is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
                obj[key] = _DECODE[value["_type_"]](value["_data_"])
        return obj
