"""Fitted models, versioned: which facts each saw, its parameters, when it was fitted.

A prediction as of a moment uses the newest model whose facts were all recorded by
then (``latest(kind, known_at)``): a model fitted on later facts would let them
into a prediction about an earlier moment.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.views import ViewDatabase, to_micros


@dataclass(frozen=True)
class StoredModel:
    kind: str
    version: int
    fitted_at: str
    as_of: str  # the moment its facts were cut at
    facts_up_to: int  # the store's last position when it was fitted
    parameters: dict[str, Any]
    summary: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "fitted_at": self.fitted_at,
                "facts_as_of": self.as_of, "facts_up_to_position": self.facts_up_to,
                "parameters": self.parameters, **self.summary}


class ModelBook:
    """The ``prediction_models`` table."""

    #: How long a process keeps the newest model before looking again (a fit is rare).
    CACHE_SECONDS = 5.0

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self.table = views.table("prediction_models")
        self._cache: dict[str, tuple[float, list[StoredModel]]] = {}

    def create_tables(self) -> None:
        self.views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " kind TEXT NOT NULL, version INTEGER NOT NULL, fitted_at TEXT NOT NULL,"
            " as_of BIGINT NOT NULL, as_of_time TEXT NOT NULL, facts_up_to BIGINT NOT NULL,"
            " parameters TEXT NOT NULL, summary TEXT NOT NULL, PRIMARY KEY (kind, version))",
        ])

    def record(self, kind: str, *, fitted_at: datetime, as_of: datetime, facts_up_to: int,
               parameters: dict[str, Any], summary: dict[str, Any]) -> int:
        """Keep a new version of ``kind``; return its number."""
        with self.views.write() as db:
            db.execute(f"SELECT COALESCE(MAX(version), 0) AS last FROM {self.table}"
                       " WHERE kind = %s", [kind])
            version = int(db.fetchone()["last"]) + 1  # type: ignore[index]
            db.execute(
                f"INSERT INTO {self.table} (kind, version, fitted_at, as_of, as_of_time,"
                " facts_up_to, parameters, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [kind, version, fitted_at.isoformat(), to_micros(as_of), as_of.isoformat(),
                 facts_up_to, json.dumps(parameters), json.dumps(summary)])
        self._cache.pop(kind, None)
        return version

    def versions(self, kind: str) -> list[StoredModel]:
        """Every version of ``kind``, oldest first (looked up again every few seconds)."""
        checked, models = self._cache.get(kind, (0.0, []))
        if time.monotonic() - checked > self.CACHE_SECONDS:
            with self.views.read() as db:
                db.execute(f"SELECT * FROM {self.table} WHERE kind = %s ORDER BY version",
                           [kind])
                models = [StoredModel(row["kind"], row["version"], row["fitted_at"],
                                      row["as_of_time"], row["facts_up_to"],
                                      json.loads(row["parameters"]), json.loads(row["summary"]))
                          for row in db.fetchall()]
            self._cache[kind] = (time.monotonic(), models)
        return models

    def latest(self, kind: str, known_at: datetime | None = None) -> StoredModel | None:
        """The newest version whose facts were cut by ``known_at`` (default: the newest)."""
        fitting = [m for m in self.versions(kind)
                   if known_at is None or datetime.fromisoformat(m.as_of) <= known_at]
        return fitting[-1] if fitting else None
