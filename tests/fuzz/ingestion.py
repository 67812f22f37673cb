"""The ingestion fuzz run: hostile messages on the real broker and PostgreSQL, then an exact check.

    python -m tests.fuzz.ingestion                    # the long run: 5,000 messages
    python -m tests.fuzz.ingestion --messages 20000 --seed 7
    (tests/fuzz/test_ingestion_fuzz.py runs a short one in CI)

Hypothesis draws each message (``tests/fuzz/messages.py``): random bytes, random
JSON, valid events, and valid events with one field mutated into an edge value;
each is followed by a valid marker on the same topic and key. Then, once the
service is quiet, for every message sent:

* it is stored exactly once (its event id, in NFC, is in the store once) or
  dead-lettered exactly once (its topic/partition/offset is on the dead-letter
  topic once, with its value and headers as sent), never both, never neither;
* every marker is stored (nothing stalled its partition);
* every partition's stored offset reaches its end, and every read model reaches
  the history's position without setting any fact aside.

It prints how many messages of each kind it sent and what became of them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st
from kafka import KafkaProducer
from tqdm import tqdm

from consumers.intake import WRONG_TOPIC, kafka_source
from consumers.redrive import DeadLetter, read_to_end
from consumers.storing import REFUSED_BY_STORE
from history.arrivals import MERGE_LIMIT
from projections.set_aside import SetAsideBook
from schemas.refusals import WIRE_CLASSES
from service import bootstrap
from service.settings import REPO_ROOT
from tests.fuzz.messages import Message, marker, messages
from tests.integration.conftest import ServiceUnderTest, service_under_test, wait_until

#: The error classes a sender's message may earn: "unknown" (no class) or
#: "validator_failed" (the validator raised) are this service's faults.
SENDERS_FAULTS = frozenset({*WIRE_CLASSES, WRONG_TOPIC, MERGE_LIMIT, REFUSED_BY_STORE})


@dataclass
class Sent:
    message: Message
    topic: str
    partition: int = -1
    offset: int = -1


@dataclass
class FuzzOutcome:
    kinds: Counter[str] = field(default_factory=Counter)  # messages sent, by kind
    stored: Counter[str] = field(default_factory=Counter)  # by kind
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by kind
    set_aside: int = 0
    stalls: int = 0  # partitions whose stored offset did not reach the end
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        lines = ["| kind | sent | stored | dead-lettered |", "|---|---|---|---|"]
        for kind, count in sorted(self.kinds.items()):
            lines.append(f"| {kind} | {count:,} | {self.stored[kind]:,} | "
                         f"{self.dead_lettered[kind]:,} |")
        lines.append(f"| **all** | **{self.kinds.total():,}** | **{self.stored.total():,}** | "
                     f"**{self.dead_lettered.total():,}** |")
        lines += ["", f"set aside: {self.set_aside}; stalls: {self.stalls}; "
                  f"mismatches: {len(self.mismatches)}; {self.seconds:.0f} s"]
        lines += [f"  - {m}" for m in self.mismatches[:20]]
        return "\n".join(lines)


def publish(service: ServiceUnderTest, count: int, seed: int, *,
            progress: bool = False) -> list[Sent]:
    """``count`` generated messages, each followed by its marker, acknowledged by Kafka."""
    s = service.settings
    bar = tqdm(total=count, desc="generating and publishing", unit="message", disable=not progress,
               file=sys.stderr)
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=5,
                             max_request_size=2 ** 21)
    sent: list[tuple[Sent, Any]] = []

    @with_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        n = len(sent) // 2
        message = data.draw(messages(n))
        topic = (s.topic_for(message.event_type) if message.event_type
                 else data.draw(st.sampled_from(s.ingestion_topics)))
        for each in (message, marker(n, message.key or b"C-0")):
            sent.append((Sent(each, topic), producer.send(
                topic, key=each.key, value=each.value, headers=list(each.headers))))
        bar.update()

    one()
    bar.close()
    producer.flush()
    for record, delivery in sent:
        metadata = delivery.get(timeout=60)
        record.partition, record.offset = metadata.partition, metadata.offset
    producer.close()
    return [record for record, _ in sent]


def settle(service: ServiceUnderTest, sent: list[Sent], timeout: float) -> int:
    """Wait until every partition written is stored to its end, every dead letter is
    published and every read model has caught up; return the partitions that stalled."""
    ends: dict[str, int] = {}
    for record in sent:
        source = kafka_source(record.topic, record.partition)
        ends[source] = max(ends.get(source, -1), record.offset)
    history = service.history
    status = bootstrap.build_status(service.settings, history, service.views)

    def behind() -> list[str]:
        stored = history.recorder.positions(list(ends))
        return [s for s, end in ends.items() if stored.get(s, -1) < end]

    try:
        wait_until(lambda: not behind(), timeout=timeout, what="every partition to be stored")
        wait_until(lambda: (now := status.gather()).dead_letter_backlog == 0 and not any(
            p.behind for p in now.projections), timeout=timeout, what="the service to settle")
    except AssertionError:
        return len(behind())
    finally:
        status.kafka.close()
    return 0


def check(service: ServiceUnderTest, sent: list[Sent], outcome: FuzzOutcome) -> None:
    s = service.settings
    stored = service.stored_event_ids()
    outcome.mismatches += [f"event {i!r} stored {n} times"
                           for i, n in Counter(stored).items() if n > 1]
    stored_ids = set(stored)
    letters = [DeadLetter.of(r) for r in read_to_end(s.kafka_client(), s.topic_deadletter)]
    published = Counter(letter.identity for letter in letters)
    outcome.mismatches += [f"dead letter {i} published {n} times"
                           for i, n in published.items() if n > 1]
    by_identity = {letter.identity: letter for letter in letters}
    expected_ids: set[str] = set()
    for record in sent:
        message, identity = record.message, (record.topic, record.partition, record.offset)
        event_id = unicodedata.normalize("NFC", message.event_id) if message.event_id else None
        kind = message.kind
        outcome.kinds[kind] += 1
        letter = by_identity.pop(identity, None)
        if letter is not None:
            outcome.dead_lettered[kind] += 1
            if letter.error_class not in SENDERS_FAULTS:
                outcome.mismatches.append(f"{kind} {identity}: dead letter of class "
                                          f"{letter.error_class!r} ({letter.reason[:80]})")
            if (letter.value, letter.headers, letter.key) != (
                    message.value, message.headers, message.key):
                outcome.mismatches.append(f"{kind} {identity}: dead letter differs from what "
                                          "was sent")
            if event_id in stored_ids:
                outcome.mismatches.append(f"{kind} {identity}: both stored and dead-lettered")
        elif event_id is not None and event_id in stored_ids:
            outcome.stored[kind] += 1
            expected_ids.add(event_id)
        else:
            outcome.mismatches.append(f"{kind} {identity} (id {event_id!r}): neither stored "
                                      "nor dead-lettered")
        if kind == "marker" and (letter is not None or event_id not in stored_ids):
            outcome.mismatches.append(f"marker {event_id} not stored")
    outcome.mismatches += [f"dead letter {i} matches no message sent" for i in by_identity]
    outcome.mismatches += [f"stored event {i!r} matches no message sent"
                           for i in stored_ids - expected_ids]
    with service.views.read() as db:
        outcome.set_aside = len(SetAsideBook(service.views).listing(db))


def run(service: ServiceUnderTest, count: int, seed: int, *, timeout: float = 300,
        say: Any = print, progress: bool = False) -> FuzzOutcome:
    started = time.perf_counter()
    service.start("consume")
    service.start("project")
    sent = publish(service, count, seed, progress=progress)
    say(f"sent {len(sent):,} messages ({count:,} generated, each with its marker); "
        "waiting for the service to settle")
    outcome = FuzzOutcome()
    outcome.stalls = settle(service, sent, timeout)
    check(service, sent, outcome)
    outcome.seconds = time.perf_counter() - started
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="generated (default 5000)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    for server in ("kafka", "postgres"):
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / f"{server}.sh"), "start"], check=True)
    with tempfile.TemporaryDirectory(prefix="crm-fuzz-") as logs, \
            service_under_test({"CRM_STORE": "postgres"}, Path(logs)) as service:
        outcome = run(service, args.messages, args.seed, timeout=max(300, args.messages / 20),
                      progress=True)
        print(f"\n## ingestion fuzz: {args.messages:,} generated messages, seed {args.seed}\n")
        print(outcome.table())
    return 0 if not outcome.mismatches and not outcome.stalls and not outcome.set_aside else 1


if __name__ == "__main__":
    sys.exit(main())
