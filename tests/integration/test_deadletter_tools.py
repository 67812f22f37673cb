"""`crm-timeline deadletter`: list and inspect dead letters, re-drive them after a fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.redrive import read_dead_letters
from service.cli import main
from tests.events import contact, hours_ago
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def test_dead_letters_are_listed_inspected_and_redriven_once_fixed(
    pg_service: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = pg_service
    s = service.settings
    # Upstream's clock runs two days ahead: refused while at most one day ahead is allowed.
    ahead = contact("C-1", datetime.now(UTC) + timedelta(days=2), event_id="e-ahead")
    service.publish(s.topic_contacts, contact("C-1", hours_ago(1), event_id="e-fine"), key="C-1")
    service.publish(s.topic_contacts, ahead, key="C-1", headers=[("trace", b"\x00\xff")])
    service.publish(s.topic_contacts, b"{broken", key="C-2")
    service.flush()
    service.start("consume")
    wait_until(lambda: len(read_dead_letters(s.kafka_bootstrap, s.topic_deadletter)) == 2,
               what="two dead letters")
    for name, value in service.env.items():
        monkeypatch.setenv(name, value)

    assert main(["deadletter", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[-1] == f"2 dead letters on {s.topic_deadletter}"
    assert any("in the future" in line and f"{s.topic_contacts}/" in line for line in listing)
    (late,) = read_dead_letters(s.kafka_bootstrap, s.topic_deadletter, reason="in the future")
    assert late.headers == (("trace", b"\x00\xff"),) and late.key == b"C-1"

    assert main(["deadletter", "inspect", late.name]) == 0
    shown = capsys.readouterr().out
    assert "e-ahead" in shown and "at most 24 hours allowed" in shown and "trace" in shown
    with pytest.raises(SystemExit, match="no dead letter 9:999"):
        main(["deadletter", "inspect", "9:999"])
    with pytest.raises(SystemExit, match="PARTITION:OFFSET"):
        main(["deadletter", "redrive"])

    # The fix: allow three days ahead. Re-driven twice, the event is stored once; the broken
    # message, re-driven too, is dead-lettered again, naming where it came from.
    service.kill("consume")
    service.env["CRM_MAX_FUTURE_SECONDS"] = str(3 * 86_400)
    service.start("consume")
    monkeypatch.setenv("CRM_MAX_FUTURE_SECONDS", str(3 * 86_400))
    assert main(["deadletter", "redrive", late.name]) == 0
    assert "re-drove 1 dead letters" in capsys.readouterr().out
    assert main(["deadletter", "redrive", "--all"]) == 0
    wait_until(lambda: sorted(service.stored_event_ids()) == ["e-ahead", "e-fine"],
               what="the re-driven event stored")
    (broken,) = [letter for letter in read_dead_letters(s.kafka_bootstrap, s.topic_deadletter)
                 if letter.value == b"{broken" and not letter.redriven_from]
    back = wait_until(lambda: [letter for letter in read_dead_letters(
        s.kafka_bootstrap, s.topic_deadletter) if letter.redriven_from], what="the broken one back")
    assert [(b.value, b.redriven_from) for b in back] == [
        (b"{broken", f"{s.topic_deadletter}:{broken.name}")]
    assert sorted(service.stored_event_ids()) == ["e-ahead", "e-fine"]
