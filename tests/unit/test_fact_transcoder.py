"""The orjson transcoder writes and reads the library's own JSON format for stored facts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from storage.fact_transcoder import FactTranscoder

pytestmark = pytest.mark.unit

STATE = {"event_id": "e-1", "occurred_at": datetime(2026, 11, 20, 13, 5, tzinfo=UTC),
         "timestamp": datetime(2026, 11, 20, 13, 6, 1, 123456, tzinfo=UTC), "id": uuid4(),
         "amount": Decimal("129.90"), "data": {"name": "Grinder", "items": [{"quantity": 2}]}}


def library() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (DatetimeAsISO(), UUIDAsHex(), DecimalAsStr()):
        transcoder.register(transcoding)
    return transcoder


def test_either_reads_what_the_other_wrote() -> None:
    assert FactTranscoder().decode(library().encode(STATE)) == STATE
    assert library().decode(FactTranscoder().encode(STATE)) == STATE


def test_a_datetime_nested_in_data_is_refused_rather_than_stored_as_a_string() -> None:
    with pytest.raises(TypeError):
        FactTranscoder().encode({"data": {"at": datetime.now(UTC)}})
