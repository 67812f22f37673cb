"""The short ingestion fuzz run (``tests/fuzz/ingestion.py``): every hostile message is
stored or dead-lettered exactly once, and nothing stalls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.ingestion import Sent, check, run
from tests.fuzz.messages import marker
from tests.integration.conftest import service_under_test

pytestmark = pytest.mark.integration

#: Generated messages in CI (each with its marker); the long run is a command.
SHORT = 400
SEED = 13


def test_every_message_is_stored_or_dead_lettered_exactly_once_and_nothing_stalls(
        kafka_bootstrap: str, postgres_server: object, tmp_path: Path) -> None:
    with service_under_test({"CRM_STORE": "postgres"}, tmp_path, kafka_bootstrap) as service:
        outcome = run(service, SHORT, SEED)
        print(outcome.table())
        assert outcome.kinds["marker"] == SHORT
        assert outcome.stored["marker"] == SHORT, "a marker was not stored: a partition stalled"
        hostile = outcome.kinds.total() - outcome.kinds["valid"] - outcome.kinds["marker"]
        assert outcome.dead_lettered.total() > hostile / 2, "the generator sent little poison"
        assert outcome.stored["valid"] == outcome.kinds["valid"] > 0
        assert outcome.stalls == 0 and outcome.set_aside == 0
        assert outcome.mismatches == []

        # The control: a message the checker believes was sent, but never was, is found.
        never = Sent(marker(10 ** 6, b"C-1"), service.settings.topic_contacts, 0, 10 ** 9)
        again = type(outcome)()
        check(service, [never], again)
        assert any("neither stored nor dead-lettered" in m for m in again.mismatches)
