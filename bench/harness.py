"""Shared parts of the benchmarks: servers, a fresh run, service processes, figures.

A :class:`Run` gives each benchmark its own PostgreSQL schema, Kafka topics
and consumer group (set as ``CRM_*`` variables in this process, inherited by
the ``crm-timeline`` processes it spawns) and removes them afterwards unless
``keep``. Results are printed as a Markdown table (benchmark | figure |
reference | ratio | target | reached) under the command line that produced
them, so a run can be pasted into ``bench/README.md`` as it is.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from history.arrivals import Arrival
from service.settings import REPO_ROOT, Settings, load_settings

TOPIC_NAMES = ("contacts", "orders", "complaints", "accounts", "deadletter", "alerts",
               "segments")


def add_load_arguments(parser: argparse.ArgumentParser, events: str) -> None:
    """--events (``events``: its help), --customers and --zipf of the load generator."""
    parser.add_argument("--events", type=int, help=events)
    parser.add_argument("--customers", type=int, help="10000; smoke 500")
    parser.add_argument("--zipf", type=float, default=1.1)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--seed, --smoke (a tiny run for CI) and --keep (the schema and topics)."""
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    parser.add_argument("--keep", action="store_true", help="keep the schema and topics")


# Every read model but the timeline: the usual second projector process.
NOT_TIMELINE = "all,-timeline"


def add_projector_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """--projectors (one ``crm-timeline project`` per CRM_PROJECTIONS value) and --nice."""
    parser.add_argument(
        "--projectors", default=default,
        help="one `crm-timeline project` process per CRM_PROJECTIONS value, separated by ';': "
        f"'all' runs one process, 'timeline;others' runs the timeline alone and the rest in a "
        f"second (default {default!r})")
    parser.add_argument("--nice", type=int, default=10,
                        help="CPU niceness of the second and later projector processes "
                        "(default 10: on 2 cores the first one's work goes first)")


def projector_sets(projectors: str) -> list[str]:
    """--projectors as one CRM_PROJECTIONS value per process ('others': all but the timeline)."""
    return [chosen.replace("others", NOT_TIMELINE) for chosen in projectors.split(";")]


def command_line() -> str:
    """How this benchmark was started, to print above its figures."""
    script = Path(sys.argv[0])
    if script.is_absolute() and script.is_relative_to(REPO_ROOT):
        script = script.relative_to(REPO_ROOT)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def start_servers(*, kafka: bool = True, postgres: bool = True) -> None:
    """Start the local servers with the project's scripts (a no-op when running)."""
    for name, wanted in (("kafka", kafka), ("postgres", postgres)):
        if wanted:
            subprocess.run(["bash", str(REPO_ROOT / "scripts" / f"{name}.sh"), "start"],
                           check=True, stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceDied(RuntimeError):
    pass


class Service:
    """A ``python -m service.cli COMMAND`` process, its output in a log file."""

    def __init__(self, command: str, log: Path, env: dict[str, str], nice: int = 0) -> None:
        self.command = command
        self.log = log
        self.started = time.perf_counter()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", command],
                env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            )
        if nice:
            os.setpriority(os.PRIO_PROCESS, self.process.pid, nice)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            raise ServiceDied(f"crm-timeline {self.command} exited with {self.process.returncode}; "
                              f"its log ({self.log}) ends:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (``VmHWM``), in MB (10^6 bytes)."""
        return peak_rss_mb(self.pid)

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def proc_status(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` memory field (VmHWM, VmRSS) in bytes; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    return proc_status(pid, "VmHWM") / 1e6


class Run:
    """One benchmark run's own schema, topics and consumer group, removed at the end."""

    def __init__(self, *, kafka: bool = True, keep: bool = False, schema: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        start_servers(kafka=kafka)
        self.id = uuid.uuid4().hex[:8]
        self.kafka = kafka
        self.keep = keep or schema is not None  # a reused schema is never dropped
        self.schema = schema or f"bench_{self.id}"
        self.logs = REPO_ROOT / ".local" / "bench" / self.id
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            "CRM_STORE": "postgres",
            "CRM_POSTGRES_SCHEMA": self.schema,
            "CRM_CONSUMER_GROUP": f"bench-{self.id}",
            **{f"CRM_TOPIC_{name.upper()}": f"bench{self.id}.{name}" for name in TOPIC_NAMES},
            **(env or {}),
        }
        os.environ.update(self.env)
        self.settings: Settings = load_settings()
        self.services: list[Service] = []
        self._closing: list[Any] = []
        if kafka:
            from service.topics import ensure_topics

            ensure_topics(self.settings)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        for service in self.services:
            service.stop()
        for thing in self._closing:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - cleaning up; the figures are printed already
                pass
        if self.keep:
            print(f"(kept schema {self.schema}; logs in {self.logs})")
            return
        self._drop_schema()
        if self.kafka:
            self._delete_topics()

    def history(self) -> Any:
        """The run's customer history (and its tables), closed at the end of the run."""
        from service import bootstrap

        history = bootstrap.build_history(self.settings)
        self._closing.append(history)
        return history

    def spawn(self, command: str, *, nice: int = 0, **env: str) -> Service:
        """``crm-timeline COMMAND`` with extra environment; ``nice`` lowers its CPU priority."""
        same = sum(1 for s in self.services if s.command == command)
        log = self.logs / (f"{command}-{same + 1}.log" if same else f"{command}.log")
        service = Service(command, log, {**os.environ, **env}, nice)
        self.services.append(service)
        return service

    def spawn_projectors(self, projectors: str, nice: int, shards: int = 1) -> list[Service]:
        """``crm-timeline project`` processes as --projectors says ('others': all but the
        timeline), the second and later ones of a shard at ``nice``; once per shard."""
        return [self.spawn("project", CRM_PROJECTIONS=chosen, CRM_PROJECTION_SHARDS=str(shards),
                           CRM_PROJECTION_SHARD=str(shard), nice=nice if n else 0)
                for shard in range(shards)
                for n, chosen in enumerate(projector_sets(projectors))]

    def _drop_schema(self) -> None:
        try:
            with psycopg.connect(self.settings.postgres_dsn(), autocommit=True) as conn:
                conn.execute("SET lock_timeout = '20s'")
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(self.schema)))
        except psycopg.Error as error:
            print(f"(could not drop schema {self.schema}: {error})", file=sys.stderr)

    def _delete_topics(self) -> None:
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
            try:
                existing = set(admin.list_topics())
                admin.delete_topics([t for t in self.topics() if t in existing])
            finally:
                admin.close()
        except Exception as error:  # noqa: BLE001
            print(f"(could not delete topics: {error})", file=sys.stderr)

    def topics(self) -> list[str]:
        return [f"bench{self.id}.{name}" for name in TOPIC_NAMES]


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str,
               services: Iterable[Service] = (), interval: float = 0.05) -> Any:
    """Poll ``condition`` until true; fail early if a service died, late after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        for service in services:
            service.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def fill(history: Any, facts: Iterable[Any], *, total: int, chunk: int = 2000,
         progress: bool = True, source: str = "bench:fill") -> int:
    """Record ``facts`` through ``history.record`` in chunks (no Kafka); return the count."""
    from tqdm import tqdm

    done = 0
    batch: list[Any] = []
    with tqdm(total=total, desc="filling the store", unit="event", disable=not progress,
              file=sys.stderr) as bar:
        for fact in facts:
            batch.append(Arrival(source, done + len(batch), fact))
            if len(batch) == chunk:
                history.record(batch)
                done += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            history.record(batch)
            done += len(batch)
            bar.update(len(batch))
    return done


def read_store(history: Any, batch_size: int, *, personal_data: bool = True) -> tuple[int, float]:
    """The reference of the projection benchmarks: every stored event read and decoded
    (``facts_of``) in batches, no projection work; returns (events, seconds)."""
    started = time.perf_counter()
    position = read = 0
    while batch := history.recorder.select_notifications(
            start=position, limit=batch_size, inclusive_of_start=False):
        read += len(history.facts_of(batch, personal_data=personal_data))
        position = batch[-1].id
    return read, time.perf_counter() - started


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of ``values``; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    reference: str = "-"
    ratio: str = "-"
    target: str = "-"
    reached: bool | None = None


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f} ev/s" if seconds > 0 else "n/a"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def print_table(title: str, rows: Sequence[Row]) -> None:
    """The figures as a Markdown table under the title and the command line."""
    print(f"\n## {title}")
    print(f"command: {command_line()}")
    print("| benchmark | figure | reference | ratio | target | reached |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        reached = "-" if row.reached is None else ("yes" if row.reached else "**no**")
        print(f"| {row.benchmark} | {row.figure} | {row.reference} | {row.ratio} | "
              f"{row.target} | {reached} |")
    sys.stdout.flush()


def apply_defaults(args: Any, **defaults: tuple[Any, Any]) -> None:
    """Fill options left unset (None) with their (full, smoke) default."""
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)


def stored_count(history: Any) -> int:
    """Rows in the history's events table (not the highest notification id: ids may skip)."""
    recorder = history.recorder
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(table))
        return int(cursor.fetchone()["n"])
