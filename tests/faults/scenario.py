"""The fault-injection run: a steady mixed load, faults on every part, then an exact check.

    python -m tests.faults.scenario            # the long run (about 15 minutes)
    python -m tests.faults.scenario --short    # what CI runs (tests/faults/test_faults.py)

While a publisher sends Zipf-skewed CRM events (1 % duplicates) with poison
messages mixed in, the driver SIGKILLs the consumer and the projector at random
moments (restarting each), restarts the Kafka broker and PostgreSQL, pauses
PostgreSQL (SIGSTOP / SIGCONT) for longer than the clients' connect timeout,
floods duplicates and bursts poison onto every partition. Then, once everything
is quiet, the checker compares with what it sent:

* the store holds each valid event exactly once, and nothing else;
* the timeline holds exactly each customer's events; each customer's 360 equals
  ``domain.customer360.fold_customer`` over the events sent for them; each
  report equals a fresh rebuild of it from the first event;
* every poison message (the five kinds below and the fuzz generator's surely
  hostile ones) is on the dead-letter topic with its key, value and headers as
  sent, under one identity, listed once by the dead-letter tools; no valid
  event is;
* every alert in the alert book reached the alerts topic.

It prints a table of faults, counts and mismatches; mismatches must be 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from kafka import KafkaProducer

from consumers.redrive import DeadLetter, read_dead_letters, read_to_end
from domain.customer360 import fold_customer
from domain.facts import FACT_CLASSES, CustomerFact, customer_stream_id
from generators import loadgen
from projections.catalog import CUSTOMER_360, TIMELINE
from projections.customer360 import view_document
from projections.replay import diff, replay
from service import bootstrap
from service.settings import REPO_ROOT, Settings
from tests.fuzz.messages import surely_hostile
from tests.integration.conftest import ServiceUnderTest, service_under_test, wait_until


@dataclass(frozen=True)
class Plan:
    rate: float  # valid events per second offered
    customers: int
    rounds: int  # times the whole fault schedule is played
    spacing: float  # seconds between faults
    poison_every: int  # one poison message among this many
    poison_burst: int  # poison messages per partition in a burst
    duplicate_flood: int  # messages sent again at once in a flood
    pause_seconds: float  # PostgreSQL stopped (longer than the 10 s connect timeout)


SHORT = Plan(rate=150, customers=300, rounds=1, spacing=4, poison_every=300, poison_burst=3,
             duplicate_flood=1500, pause_seconds=12)
LONG = Plan(rate=300, customers=3000, rounds=6, spacing=10, poison_every=200, poison_burst=10,
            duplicate_flood=10_000, pause_seconds=15)

FAULTS = ("kill consumer", "kill projector", "poison burst", "kill consumer", "duplicate flood",
          "restart Kafka", "kill projector", "restart PostgreSQL", "kill consumer",
          "pause PostgreSQL", "kill projector", "kill consumer")


@dataclass(frozen=True)
class Sent:
    """A message as sent: the checker compares the dead-letter topic with these."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None


@dataclass
class Ledger:
    """What the publisher has had acknowledged by Kafka."""

    valid: dict[str, loadgen.LoadEvent] = field(default_factory=dict)  # event id -> first copy
    messages: int = 0  # valid messages acknowledged, copies included
    poison: dict[bytes, Sent] = field(default_factory=dict)  # value -> message
    lock: threading.Lock = field(default_factory=threading.Lock)


class Publisher:
    """Sends the load at a steady rate until stopped; anything Kafka does not acknowledge
    (a broker restart outlasting the producer's retries) is sent again."""

    def __init__(self, service: ServiceUnderTest, plan: Plan, seed: int) -> None:
        self.service, self.plan, self.seed = service, plan, seed
        self.ledger = Ledger()
        self.producer = KafkaProducer(bootstrap_servers=service.settings.kafka_bootstrap,
                                      acks="all", linger_ms=5, enable_idempotence=True)
        self.stop = threading.Event()
        self.failed: list[Sent | loadgen.LoadEvent] = []
        self._poison = 0
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self.stop.set()
        self._thread.join()
        for _ in range(10):  # what failed while the broker was away, until acknowledged
            self.producer.flush()
            retry, self.failed = self.failed, []
            if not retry:
                break
            for message in retry:
                self._send(message)
        self.producer.flush()
        self.producer.close()

    def _run(self) -> None:
        plenty = int(self.plan.rate * 3600)  # times spread over a year; the run uses a part
        stream = loadgen.messages(plenty, customers=self.plan.customers, zipf=1.1,
                                  duplicates=0.01, seed=self.seed,
                                  topic_of=self.service.settings.topic_for)
        started = time.perf_counter()
        for n, event in enumerate(stream):
            if self.stop.is_set():
                return
            wait = started + n / self.plan.rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self._send(event)
            if n % self.plan.poison_every == self.plan.poison_every - 1:
                self._send(self.poison())

    def poison(self, topic: str | None = None, partition: int | None = None) -> Sent:
        """The next of five kinds of malformed message, or (every other time) one of the fuzz
        generator's surely hostile ones (NUL in an id, year 0001, a lone surrogate...), each
        unique by its value."""
        self._poison += 1
        mark = f"poison-{self.seed}-{self._poison}"
        topic = topic or self.service.settings.topic_orders
        if self._poison % 2:
            _, value = surely_hostile(self._poison // 2, mark)
            return Sent(topic, mark.encode(), value, (), partition)
        kind = self._poison // 2 % 5
        future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        if kind == 0:
            return Sent(topic, mark.encode(), b"{not json: " + mark.encode(), (), partition)
        if kind == 1:
            value = {"specversion": "1.0", "id": mark, "type": "crm.order.placed", "data": {}}
        elif kind == 2:
            value = {"specversion": "1.0", "id": mark, "source": "faults", "subject": "C-1",
                     "type": "crm.order.teleported", "time": future, "data": {}}
        elif kind == 3:
            value = {"specversion": "1.0", "id": mark, "source": "faults", "subject": "C-1",
                     "type": "crm.contact.logged", "time": future,
                     "data": {"channel": "phone", "direction": "inbound"}}
        else:
            headers = (("ce_specversion", b"1.0"), ("ce_type", b"\xff\xfe" + mark.encode()),
                       ("trace", os.urandom(8)))
            return Sent(topic, None, json.dumps({"mark": mark}).encode(), headers, partition)
        return Sent(topic, mark.encode(), json.dumps(value).encode(), (), partition)

    def send_poison_burst(self) -> int:
        """``poison_burst`` malformed messages onto every partition of every ingestion topic."""
        count = 0
        for topic in self.service.settings.ingestion_topics:
            for partition in sorted(self.producer.partitions_for(topic)):
                for _ in range(self.plan.poison_burst):
                    self._send(self.poison(topic, partition))
                    count += 1
        return count

    def send_duplicate_flood(self) -> int:
        """Messages already sent (and acknowledged), all sent again at once."""
        with self.ledger.lock:
            again = list(self.ledger.valid.values())[-self.plan.duplicate_flood:]
        for event in again:
            self._send(event)
        return len(again)

    def _send(self, message: Sent | loadgen.LoadEvent) -> None:
        if isinstance(message, Sent):
            future = self.producer.send(message.topic, key=message.key, value=message.value,
                                        headers=list(message.headers), partition=message.partition)
        else:
            future = self.producer.send(message.topic, key=message.key.encode(),
                                        value=message.value)
        future.add_callback(lambda _: self._acknowledged(message))
        future.add_errback(lambda _: self.failed.append(message))

    def _acknowledged(self, message: Sent | loadgen.LoadEvent) -> None:
        with self.ledger.lock:
            if isinstance(message, Sent):
                self.ledger.poison[message.value] = message
            else:
                self.ledger.messages += 1
                self.ledger.valid.setdefault(message.event_id, message)


@contextlib.contextmanager
def postgres_paused(settings: Settings) -> Iterator[None]:
    """SIGSTOP the PostgreSQL server (on this machine: found as the parent of a backend)
    and every process of it, SIGCONT on exit."""
    with psycopg.connect(settings.postgres_dsn(), autocommit=True) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        status = Path(f"/proc/{backend}/status").read_text()  # while the backend lives
    postmaster = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
    children = subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True)
    stopped = [int(postmaster), *map(int, children.stdout.split())]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _script(name: str, action: str) -> None:
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / f"{name}.sh"), action], check=True,
                   stdout=subprocess.DEVNULL)


class Driver:
    """Plays the fault schedule against the running service while the load goes on."""

    def __init__(self, service: ServiceUnderTest, publisher: Publisher, plan: Plan,
                 rng: random.Random) -> None:
        self.service, self.publisher, self.plan, self.rng = service, publisher, plan, rng
        self.injected: Counter[str] = Counter()

    def play(self, say: Callable[[str], None]) -> None:
        for round_ in range(self.plan.rounds):
            for fault in FAULTS:
                time.sleep(self.plan.spacing * self.rng.uniform(0.5, 1.5))
                say(f"round {round_ + 1}/{self.plan.rounds}: {fault}")
                self.inject(fault)
                self.injected[fault] += 1
                for command in ("consume", "project"):  # as a supervisor would
                    process = self.service.processes.get(command)
                    if process is not None and process.poll() is not None:
                        say(f"  {command} exited with {process.returncode}; starting it again")
                        self.injected[f"{command} exited by itself (restarted)"] += 1
                        self.service.processes.pop(command)
                        self.service.start(command)

    def inject(self, fault: str) -> None:
        if fault in ("kill consumer", "kill projector"):
            command = "consume" if fault == "kill consumer" else "project"
            self.service.kill(command)
            time.sleep(self.rng.uniform(0, 1))
            self.service.start(command)
        elif fault == "poison burst":
            self.publisher.send_poison_burst()
        elif fault == "duplicate flood":
            self.publisher.send_duplicate_flood()
        elif fault == "restart Kafka":
            _script("kafka", "stop")
            _script("kafka", "start")
        elif fault == "restart PostgreSQL":
            _script("postgres", "stop")
            _script("postgres", "start")
        elif fault == "pause PostgreSQL":
            with postgres_paused(self.service.settings):
                time.sleep(self.plan.pause_seconds)
        else:
            raise ValueError(fault)


@dataclass
class Outcome:
    injected: Counter[str]
    rows: list[tuple[str, str, int]]  # (what, detail, mismatches)

    @property
    def mismatches(self) -> int:
        return sum(m for _, _, m in self.rows)

    def table(self) -> str:
        lines = ["| fault | injected |", "|---|---|"]
        lines += [f"| {fault} | {count} |" for fault, count in sorted(self.injected.items())]
        lines += ["", "| check | found | mismatches |", "|---|---|---|"]
        lines += [f"| {what} | {detail} | {m} |" for what, detail, m in self.rows]
        lines.append(f"| **total** | | **{self.mismatches}** |")
        return "\n".join(lines)


class Checker:
    """Compares the quiet service with what the publisher had acknowledged."""

    def __init__(self, service: ServiceUnderTest, ledger: Ledger) -> None:
        self.service, self.ledger = service, ledger
        self.settings = service.settings
        self.catalog = bootstrap.build_catalog(self.settings, service.history, service.views)
        self.expected: dict[str, list[CustomerFact]] = defaultdict(list)
        for version, event in enumerate(ledger.valid.values(), start=1):
            reported = loadgen.as_fact(json.loads(event.value))
            self.expected[reported.customer_id].append(FACT_CLASSES[reported.event_type](
                originator_id=customer_stream_id(reported.customer_id),
                originator_version=version, timestamp=CustomerFact.create_timestamp(),
                event_id=reported.event_id, source=reported.source,
                customer_id=reported.customer_id, occurred_at=reported.occurred_at,
                data=reported.data))

    def wait_until_quiet(self, timeout: float) -> None:
        """Until nothing is left to ingest, project or relay, three checks in a row (the
        SLA clock may raise an alert a check after its complaint is projected)."""
        status = bootstrap.build_status(self.settings, self.service.history, self.service.views)
        quiet = 0

        def settled() -> bool:
            nonlocal quiet
            now = status.gather()
            still = (now.problems or now.consumer_lag or now.outbox_backlog
                     or any(p.behind for p in now.projections))
            quiet = 0 if still else quiet + 1
            return quiet >= 3

        try:
            wait_until(settled, timeout=timeout, what="the service to settle",
                       interval=self.settings.sla_check_seconds)
        finally:
            status.kafka.close()

    def check(self, injected: Counter[str]) -> Outcome:
        return Outcome(injected, [self._store(), self._timeline(), self._customer360(),
                                  *self._reports(), self._dead_letters(), self._alerts()])

    def _store(self) -> tuple[str, str, int]:
        stored = self.service.stored_event_ids()
        expected = set(self.ledger.valid)
        twice = len(stored) - len(set(stored))
        missing, extra = expected - set(stored), set(stored) - expected
        return ("store: each valid event exactly once",
                f"{len(stored):,} stored of {len(expected):,} distinct sent "
                f"({self.ledger.messages:,} messages); {twice} twice, {len(missing)} missing, "
                f"{len(extra)} not sent", twice + len(missing) + len(extra))

    def _timeline(self) -> tuple[str, str, int]:
        table = self.catalog.live(TIMELINE).table
        with self.service.views.read() as db:
            db.execute(f"SELECT customer_id, event_id FROM {table}")
            rows = [(r["customer_id"], r["event_id"]) for r in db.fetchall()]
        expected = {(c, f.event_id) for c, facts in self.expected.items() for f in facts}
        wrong = len(rows) - len(set(rows)) + len(expected ^ set(rows))
        return ("timeline: each customer's events", f"{len(rows):,} rows", wrong)

    def _customer360(self) -> tuple[str, str, int]:
        table = self.catalog.live(CUSTOMER_360).table
        with self.service.views.read() as db:
            db.execute(f"SELECT customer_id, document FROM {table}")
            stored = {r["customer_id"]: json.loads(r["document"]) for r in db.fetchall()}
        policies = self.settings.policies()
        differ = []
        for customer, facts in self.expected.items():
            view = fold_customer(customer, facts, max(f.occurred_at for f in facts), policies)
            folded = json.loads(json.dumps({**view_document(view), "merged_ids": []},
                                           default=str, sort_keys=True))
            if stored.get(customer) != folded:
                differ.append(customer)
        differ += [c for c in stored if c not in self.expected]
        return ("customer 360 = fold_customer over the events sent",
                f"{len(stored):,} customers" + (f"; differ: {differ[:5]}" if differ else ""),
                len(differ))

    def _reports(self) -> list[tuple[str, str, int]]:
        names = list(self.catalog.reports)
        replay(self.catalog, names, swap=False)
        rows = []
        for name in names:
            changes = diff(self.catalog, name)
            wrong = len(changes.added) + len(changes.removed) + len(changes.changed)
            rows.append((f"report {name} = rebuilt from the first event",
                         f"{wrong} rows differ", wrong))
        return rows

    def _dead_letters(self) -> tuple[str, str, int]:
        """Every poison message on the dead-letter topic as sent, under one identity (its
        source topic/partition/offset) however often the relay was killed mid-way; and the
        dead-letter tools list each once."""
        letters = [DeadLetter.of(record) for record in read_to_end(
            self.settings.kafka_client(), self.settings.topic_deadletter)]
        identities: defaultdict[bytes | None, set[tuple[str, int, int]]] = defaultdict(set)
        wrong = 0
        for letter in letters:
            sent = self.ledger.poison.get(letter.value or b"")
            if sent is None or sent.key != letter.key or sent.headers != letter.headers:
                wrong += 1  # a valid event dead-lettered, or a poison message altered
            identities[letter.value].add(letter.identity)
        missing = [v for v in self.ledger.poison if v not in identities]
        twice = sum(len(ids) - 1 for ids in identities.values())  # a message rejected twice
        listed = len(read_dead_letters(self.settings.kafka_client(),
                                       self.settings.topic_deadletter))
        repeats = len(letters) - len(identities)
        return ("dead letters: every poison message as sent, once",
                f"{len(identities):,} of {len(self.ledger.poison):,} poison messages, "
                f"{listed:,} listed ({repeats} republished under the same key after kills); "
                f"{len(missing)} missing, {wrong} wrong, {twice} under two identities",
                len(missing) + wrong + twice + abs(listed - len(identities)))

    def _alerts(self) -> tuple[str, str, int]:
        with self.service.views.read() as db:
            db.execute(f"SELECT alert_id FROM {self.service.views.table('alerts')}")
            raised = {r["alert_id"] for r in db.fetchall()}
        on_topic = [dict(r.headers)["alert_id"].decode()
                    for r in read_to_end(self.settings.kafka_client(), self.settings.topic_alerts)]
        missing = raised - set(on_topic)
        return ("alerts: every alert on the alerts topic",
                f"{len(raised):,} raised, {len(set(on_topic)):,} on the topic "
                f"({len(on_topic) - len(set(on_topic))} repeats); {len(missing)} missing",
                len(missing))


def run(service: ServiceUnderTest, plan: Plan, *, seed: int = 11,
        say: Callable[[str], None] = print) -> Outcome:
    """Play ``plan`` against ``service`` (fresh topics and schema) and check the result."""
    service.env.update(CRM_CONSUMER_BATCH_SIZE="200", CRM_PROJECTION_BATCH_SIZE="200")
    rng = random.Random(seed)
    publisher = Publisher(service, plan, seed)
    driver = Driver(service, publisher, plan, rng)
    try:
        service.start("consume")
        service.start("project")
        publisher.start()
        driver.play(say)
        time.sleep(plan.spacing)
        publisher.finish()
        say(f"load sent: {publisher.ledger.messages:,} valid messages, "
            f"{len(publisher.ledger.poison):,} poison; waiting for the service to settle")
        checker = Checker(service, publisher.ledger)
        checker.wait_until_quiet(timeout=300 * plan.rounds)
        return checker.check(driver.injected)
    finally:
        with contextlib.suppress(Exception):  # leave both servers running for what comes next
            _script("kafka", "start")
            _script("postgres", "start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI run (about 2 minutes)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    plan = SHORT if args.short else LONG
    _script("kafka", "start")
    _script("postgres", "start")
    with tempfile.TemporaryDirectory(prefix="crm-faults-") as logs, \
            service_under_test({"CRM_STORE": "postgres"}, Path(logs)) as service:
        started = time.perf_counter()
        outcome = run(service, plan, seed=args.seed,
                      say=lambda line: print(f"[{time.perf_counter() - started:6.0f} s] {line}",
                                             flush=True))
        print(f"\n## fault injection: {'short' if args.short else 'long'} run, seed {args.seed}, "
              f"{time.perf_counter() - started:.0f} s\n")
        print(outcome.table())
    return 0 if outcome.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
