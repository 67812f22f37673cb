"""Which running process serves which read model, in which generation.

Every API process and every projection loop writes one row here every few seconds:
the rebuildable read models and reports its code knows, with the generation it reads
or follows. ``GET /reports`` shows them, and ``crm-timeline replay`` uses them to say
who serves the generation it swapped in, and who does not (a process whose code lacks
a newly deployed report module, or one not caught up with the swap yet).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.views import ViewDatabase

log = logging.getLogger(__name__)

#: How often a process writes its row.
BEAT_SECONDS = 5.0
#: A process whose row is older than this has stopped (or hangs): it serves nothing.
GONE_AFTER_SECONDS = 30.0


def process_label(role: str) -> str:
    """``role pid@host``: how people find the process (``ps`` on that host)."""
    return f"{role} {os.getpid()}@{socket.gethostname()}"


@dataclass(frozen=True)
class ServingProcess:
    process: str
    role: str  # api, projector
    serves: dict[str, int]  # read model -> generation
    seen_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"process": self.process, "role": self.role, "serves": self.serves,
                "seen_at": self.seen_at.isoformat()}


class ServingRegistry:
    """The rows of the running processes (one table, shared by every process)."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.table = views.table("serving_processes")

    def create_statements(self) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " process TEXT PRIMARY KEY, role TEXT NOT NULL, serves TEXT NOT NULL,"
                " seen_at TEXT NOT NULL)"]

    def beat(self, process: str, role: str, serves: dict[str, int],
             now: datetime | None = None) -> None:
        """Record what ``process`` serves now; rows of processes gone for a day go."""
        now = now or datetime.now(UTC)
        with self.views.write() as db:
            db.execute(
                f"INSERT INTO {self.table} (process, role, serves, seen_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (process) DO UPDATE SET role = excluded.role,"
                " serves = excluded.serves, seen_at = excluded.seen_at",
                [process, role, json.dumps(serves, sort_keys=True), now.isoformat()])
            db.execute(f"DELETE FROM {self.table} WHERE seen_at < %s",
                       [(now - timedelta(days=1)).isoformat()])

    def leave(self, process: str) -> None:
        with self.views.write() as db:
            db.execute(f"DELETE FROM {self.table} WHERE process = %s", [process])

    def running(self, now: datetime | None = None) -> list[ServingProcess]:
        """The processes seen in the last ``GONE_AFTER_SECONDS``, by role and name."""
        since = (now or datetime.now(UTC)) - timedelta(seconds=GONE_AFTER_SECONDS)
        with self.views.read() as db:
            db.execute(f"SELECT process, role, serves, seen_at FROM {self.table}"
                       " WHERE seen_at >= %s ORDER BY role, process", [since.isoformat()])
            rows = db.fetchall()
        return [ServingProcess(row["process"], row["role"], json.loads(row["serves"]),
                               datetime.fromisoformat(row["seen_at"])) for row in rows]


class Heartbeat:
    """One process's row, written every ``BEAT_SECONDS`` by ``run`` until ``stop`` is set;
    then the row goes (a stopped process serves nothing)."""

    def __init__(self, registry: ServingRegistry, role: str,
                 serves: Callable[[], dict[str, int]]) -> None:
        self.registry, self.role, self.serves = registry, role, serves
        self.process = process_label(role)

    def run(self, stop: threading.Event) -> None:
        while True:
            try:
                self.registry.beat(self.process, self.role, self.serves())
            except Exception:  # a missed beat is tried again; the process goes on serving
                log.warning("could not record what %s serves", self.process, exc_info=True)
            if stop.wait(BEAT_SECONDS):
                break
        with contextlib.suppress(Exception):  # stopping: the row ages out anyway
            self.registry.leave(self.process)


@dataclass(frozen=True)
class Reach:
    """Who serves one generation of one read model, and who does not (yet)."""

    serving: list[ServingProcess]  # APIs that read it, loops that follow it
    lagging_apis: list[ServingProcess]  # running APIs that do not read it

    def describe(self, name: str, generation: int) -> str:
        """In words, for ``crm-timeline replay``: "live" only where an API serves it."""
        apis = [p.process for p in self.serving if p.role == "api"]
        loops = [p.process for p in self.serving if p.role != "api"]
        if not apis and not self.lagging_apis:
            head = f"{name}: generation {generation} is swapped in; no API process is running to serve it"
        elif self.lagging_apis:
            head = (f"{name}: generation {generation} is swapped in, but NOT served by "
                    f"{', '.join(p.process for p in self.lagging_apis)} (its code may lack the "
                    "module: deploy it there)" + (f"; served by {', '.join(apis)}" if apis else ""))
        else:
            head = f"{name}: generation {generation} is live, served by {', '.join(apis)}"
        follow = (f"; kept up to date by {', '.join(loops)}" if loops else
                  "; no running projection loop follows it, so it stays as of now until one "
                  "does (CRM_PROJECTIONS must pick it)")
        return head + follow


def reach(registry: ServingRegistry, generations: dict[str, int],
          wait_seconds: float = 2 * BEAT_SECONDS + 1,
          sleep: Callable[[float], None] = time.sleep) -> dict[str, Reach]:
    """Who serves each of ``generations`` (read model -> generation), waiting up to
    ``wait_seconds`` for every running process to have noticed them (each looks every
    ``BEAT_SECONDS``)."""
    waited = 0.0
    while True:
        running = registry.running()
        reached = {}
        for name, generation in generations.items():
            serving = [p for p in running if p.serves.get(name) == generation]
            lagging = [p for p in running if p.role == "api" and p not in serving]
            reached[name] = Reach(serving, lagging)
        settled = all(not r.lagging_apis and any(p.role != "api" for p in r.serving)
                      for r in reached.values())
        if settled or waited >= wait_seconds:
            return reached
        sleep(0.5)
        waited += 0.5
