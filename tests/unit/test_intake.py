"""Sorting a Kafka batch: every record ends as a fact to store or a reason to dead-letter."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from consumers.intake import kafka_source, sort_batch
from schemas.examples import EXAMPLES
from schemas.validation import without_inputs

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, tzinfo=UTC)


@dataclass
class Record:
    offset: int
    value: bytes | None
    topic: str = "crm.orders"
    partition: int = 2
    key: bytes | None = b"C-10042"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def test_every_offset_is_accounted_for_in_order() -> None:
    good = json.dumps(EXAMPLES["crm.order.placed"]).encode()
    records = [Record(10, good), Record(11, b"not json"), Record(12, None), Record(13, good)]
    intake = sort_batch(records, now=NOW, max_future=timedelta(days=1))
    assert [(source, offset) for source, offset, _ in intake.positions] == [
        (kafka_source("crm.orders", 2), n) for n in (10, 11, 12, 13)
    ]
    facts = [fact for _, _, fact in intake.positions]
    assert facts[1] is None and facts[2] is None
    assert facts[0] is not None and facts[0].customer_id == "C-10042"
    assert facts[0].data["amount"] == "129.90"
    assert [(r.record.offset, r.reason[:20]) for r in intake.rejected] == [
        (11, "message value is not"), (12, "empty message: no va")
    ]


def test_a_rejected_message_tells_what_it_claims_and_its_reason_loses_the_values() -> None:
    wrong = dict(EXAMPLES["crm.order.placed"], id="o-bad", subject="C-7")
    wrong["data"] = dict(wrong["data"], currency="euros, ann@example.com")
    teleported = dict(wrong, type="crm.order.teleported")
    binary = Record(3, b"{}", headers=[("ce_specversion", b"1.0"), ("ce_type", b"\xff")])
    intake = sort_batch([Record(1, json.dumps(wrong).encode()),
                         Record(2, json.dumps(teleported).encode()), binary, Record(4, b"[")],
                        now=NOW, max_future=timedelta(days=1))
    first = intake.rejected[0]
    assert first.claimed == {"type": "crm.order.placed", "id": "o-bad", "subject": "C-7"}
    assert "ann@example.com" in first.reason
    assert without_inputs(first.reason) == "data.currency: must be an ISO 4217 currency code such as 'EUR'"
    assert [r.declared_type for r in intake.rejected] == ["crm.order.placed", "unknown",
                                                          "unknown", "unknown"]
    assert intake.rejected[3].claimed == {}
