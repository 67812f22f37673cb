"""Which policies each generation of a read model was built with.

The customer 360's scores (loyalty, contact fatigue, SLA state, anomaly figures) depend on
the deployment's policies. A generation is built with the policies of the process that
started it and keeps them: the projector follows it with them, and the API computes the
360 with the live generation's, whatever its own settings say. A new formula therefore
reaches agents only when a rebuild made with it (``crm-timeline replay customer360``, its
``--diff`` listing the customers whose tier changes) is swapped in, never when a process
merely restarts with other settings.

A policy is stored as the settings that make it (``Settings.policy_record``), in
``read_model_policies``; the composition root says how to read one back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from domain.customer360 import Policies
from storage.views import ViewDatabase

log = logging.getLogger(__name__)

Record = dict[str, Any]


class GenerationPolicies:
    """The policies of each (read model, generation), recorded on first use: a generation
    nobody recorded yet gets this process's own (``own``, as a ``record``)."""

    def __init__(self, views: ViewDatabase, own: Policies, record: Record | None = None,
                 restore: Callable[[Record], Policies] | None = None) -> None:
        """Without ``restore`` (tools and tests that build no settings) every generation
        has ``own``."""
        self.views = views
        self.own = own
        self._record, self._restore = record or {}, restore
        self.table = views.table("read_model_policies")
        self._known: dict[tuple[str, int], Policies] = {}
        self._lock = threading.Lock()

    def create_statements(self) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {self.table} (name TEXT NOT NULL,"
                " generation INTEGER NOT NULL, policies TEXT NOT NULL,"
                " PRIMARY KEY (name, generation))"]

    def of(self, name: str, generation: int) -> Policies:
        """The policies generation ``generation`` of ``name`` is built and read with."""
        if self._restore is None:
            return self.own
        with self._lock:
            known = self._known.get((name, generation))
            if known is None:
                stored = self.record(name, generation)
                known = self.own if stored == self._record else self._restore(stored)
                if known != self.own:
                    differing = sorted(k for k in self._record if stored.get(k) != self._record[k])
                    log.warning("%s generation %d was built with other policies than this "
                                "process's settings (%s differ); it is read with its own. Yours "
                                "take effect when `crm-timeline replay %s` builds a generation "
                                "with them and it is swapped in", name, generation,
                                ", ".join(differing), name)
                self._known[(name, generation)] = known
            return known

    def record(self, name: str, generation: int) -> Record:
        """The settings the generation is built with, this process's own stored first if
        none are."""
        select = f"SELECT policies FROM {self.table} WHERE name = %s AND generation = %s"
        with self.views.read() as db:
            db.execute(select, [name, generation])
            row = db.fetchone()
        if row is None:  # once per generation
            with self.views.write() as db:
                db.execute(f"INSERT INTO {self.table} (name, generation, policies)"
                           " VALUES (%s, %s, %s) ON CONFLICT (name, generation) DO NOTHING",
                           [name, generation, json.dumps(self._record, sort_keys=True)])
                db.execute(select, [name, generation])
                row = db.fetchone()
        return json.loads(row["policies"])  # type: ignore[index, no-any-return]

    def forget(self, name: str, generation: int) -> None:
        """A generation dropped: its number may be built again, with other policies."""
        with self.views.write() as db:
            db.execute(f"DELETE FROM {self.table} WHERE name = %s AND generation = %s",
                       [name, generation])
        with self._lock:
            self._known.pop((name, generation), None)
