"""`crm-timeline deadletter`: list and inspect dead letters, re-drive them after a fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.redrive import DeadLetter, read_dead_letters
from service import bootstrap
from service.cli import main
from tests.events import contact, hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What the command said on stderr when it refused (exit code 2, like argparse)."""
    with pytest.raises(SystemExit) as exited:
        main(["deadletter", *argv])
    assert exited.value.code == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.startswith("crm-timeline deadletter: ")
    return said.err


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
    service.publish(s.topic_orders, order("C-3", hours_ago(2), "O-1", amount="-5",
                                          event_id="e-negative"), key="C-3")
    service.flush()
    service.start("consume")
    wait_until(lambda: len(read_dead_letters(s.kafka_client(), s.topic_deadletter)) == 3,
               what="three dead letters")
    for name, value in service.env.items():
        monkeypatch.setenv(name, value)

    assert main(["deadletter", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[-1] == f"3 dead letters on {s.topic_deadletter}" and len(listing) == 4
    assert any("in the future" in line and f"{s.topic_contacts}/" in line for line in listing)
    assert any("C-3" in line and f"{s.topic_orders}/" in line for line in listing)
    assert main(["deadletter", "list", "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"3 dead letters on {s.topic_deadletter} (the newest 1 shown)")

    (late,) = read_dead_letters(s.kafka_client(), s.topic_deadletter, reason="in the future")
    assert late.headers == (("trace", b"\x00\xff"),) and late.key == b"C-1"
    assert late.source_topic == s.topic_contacts and late.redriven_from is None
    (broken,) = [x for x in read_dead_letters(s.kafka_client(), s.topic_deadletter)
                 if x.value == b"{broken"]
    (negative,) = [x for x in read_dead_letters(s.kafka_client(), s.topic_deadletter)
                   if x.source_topic == s.topic_orders]
    assert negative.key == b"C-3" and b"e-negative" in (negative.value or b"")

    assert main(["deadletter", "inspect", late.name]) == 0
    shown = capsys.readouterr().out
    assert '"id": "e-ahead"' in shown and "at most 24 hours allowed" in shown
    assert "trace = b'\\x00\\xff'" in shown
    assert main(["deadletter", "inspect", broken.name]) == 0
    assert "b'{broken'" in capsys.readouterr().out

    assert "no dead letter 9:999 on" in refused(capsys, "inspect", "9:999")
    assert "PARTITION:OFFSET" in refused(capsys, "inspect", "oops")
    assert "PARTITION:OFFSET" in refused(capsys, "redrive")
    assert "no dead letter 9:999 on" in refused(capsys, "redrive", late.name, "9:999")
    assert main(["deadletter", "redrive", "--reason", "in the future", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would re-drive {late.name} to {s.topic_contacts}: {late.reason[:80]}",
        "1 dead letters would be re-driven (dry run: nothing published)"]
    assert len(read_dead_letters(s.kafka_client(), s.topic_deadletter)) == 3

    # The fix: allow three days ahead. Re-driven twice, the event is stored once; the others,
    # re-driven too, are dead-lettered again, naming where they came from.
    service.kill("consume")
    service.env["CRM_MAX_FUTURE_SECONDS"] = str(3 * 86_400)
    service.start("consume")
    assert main(["deadletter", "redrive", late.name]) == 0
    assert "re-drove 1 dead letters" in capsys.readouterr().out
    assert main(["deadletter", "redrive", "--all"]) == 0
    assert "re-drove 3 dead letters" in capsys.readouterr().out
    wait_until(lambda: "e-ahead" in service.stored_event_ids(), what="the re-driven event stored")

    def back_again() -> list[DeadLetter]:
        letters = [x for x in read_dead_letters(s.kafka_client(), s.topic_deadletter)
                   if x.redriven_from]
        return letters if len(letters) == 2 else []

    back = wait_until(back_again, what="both still wrong ones back")
    assert sorted((x.value, x.redriven_from, x.headers) for x in back) == sorted([
        (b"{broken", f"{s.topic_deadletter}:{broken.name}", ()),
        (negative.value, f"{s.topic_deadletter}:{negative.name}", ())])
    status = bootstrap.build_status(s, service.history, service.views)
    wait_until(lambda: not (now := status.gather()).problems and now.consumer_lag == 0,
               what="every re-drive consumed")
    status.kafka.close()
    assert sorted(service.stored_event_ids()) == ["e-ahead", "e-fine"]

    # Re-driving everything again takes the newest copy of a letter rejected twice, not both.
    assert main(["deadletter", "redrive", "--all", "--dry-run"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[2] for line in again[:-1]) == sorted(
        [late.name, *(x.name for x in back)])
    assert again[-1] == "3 dead letters would be re-driven (dry run: nothing published)"
    assert main(["deadletter", "inspect", back[0].name]) == 0
    assert f"re-drive of   {back[0].redriven_from}" in capsys.readouterr().out
