"""API keys and roles: who may read, publish and administer.

Roles: ``agent`` reads customers, timelines, alerts and reports, acknowledges
alerts and works the queue; ``ingest`` publishes events over HTTP; ``admin`` may
do what an agent does and also rebuild read models and manage keys. A key may name
the agent it belongs to (``keys create --agent A-007 --team billing``): the queue
opens on that agent's customers and an acknowledgement records that agent. Events that merge,
unmerge or erase customers (``schemas.registry.PRIVILEGED_TYPES``) change who a
customer is: an ``ingest`` key publishes them only with an explicit permission
for each type, given when the key is created (``keys create --allow``). A key is shown once,
at creation: ``crm_<id>_<secret>``. Only a SHA-256 digest of the secret is
stored (the secret is 32 random bytes, so a slow password hash adds nothing),
compared in constant time. Missing or wrong keys get 401, a key without the
role 403; neither ever gets data. A verified key is remembered for
``VERIFIED_SECONDS`` (a database round trip per request was a third of a
timeline read): a key revoked by another process stops working within that
time, one revoked through this ``KeyRing`` at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from schemas.registry import PRIVILEGED_TYPES
from schemas.text import text_problem
from storage.views import Row, ViewDatabase

Role = Literal["agent", "ingest", "admin"]
ROLES: tuple[Role, ...] = ("agent", "ingest", "admin")
#: What each role may also do besides its own name.
_GRANTS: dict[str, set[str]] = {"agent": {"agent"}, "ingest": {"ingest"}, "admin": {"admin", "agent"}}


@dataclass(frozen=True)
class Caller:
    key_id: str
    name: str
    role: Role
    #: Privileged event types this key may publish (``keys create --allow``).
    permissions: frozenset[str] = field(default=frozenset())
    #: The agent the key belongs to (an owner id of ``crm.account.owner_assigned``), its team.
    agent_id: str | None = None
    team: str | None = None

    @property
    def who(self) -> str:
        """Whom the key acts for: its agent, else its name."""
        return self.agent_id or self.name

    def may(self, role: Role) -> bool:
        """Whether this key's role grants ``role`` (an admin may do what an agent does)."""
        return role in _GRANTS[self.role]

    def refusal_to_publish(self, event_type: str) -> str | None:
        """Why this key may not publish ``event_type`` (None: it may)."""
        if event_type not in PRIVILEGED_TYPES or event_type in self.permissions:
            return None
        return (f"publishing {event_type} needs the permission {event_type!r}, which the key "
                f"{self.name!r} does not have; an admin creates a key with it: crm-timeline keys "
                f"create --name NAME --role ingest --allow {event_type}")


def _permissions(stored: str | None) -> frozenset[str]:
    return frozenset(p for p in (stored or "").split(",") if p)


#: Agent ids and teams: short names, as upstream systems spell owner ids.
_NAMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: Key ids are 8 hex digits (``secrets.token_hex(4)``); anything else is not looked up.
_KEY_ID = re.compile(r"[0-9a-f]{8}")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


#: How long a verified key is taken as valid without asking the database again.
VERIFIED_SECONDS = 10.0


class KeyRing:
    """The API keys: made, listed, revoked, verified; owns the ``api_keys`` table."""

    def __init__(self, views: ViewDatabase) -> None:
        self.views = views
        self._verified: dict[str, tuple[float, Caller]] = {}  # digest of the key -> when, who
        self.table = views.table("api_keys")

    def create_tables(self) -> None:
        self.views.create_tables([
            f"CREATE TABLE IF NOT EXISTS {self.table} (key_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
            " role TEXT NOT NULL, digest TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT,"
            " permissions TEXT NOT NULL DEFAULT '', agent_id TEXT, team TEXT)"
        ])
        self._add_permissions_column()
        self.views.add_columns("api_keys", {"agent_id": "TEXT", "team": "TEXT"})

    def _add_permissions_column(self) -> None:
        """Tables made before permissions existed get the column; their keys have none."""
        column = "permissions TEXT NOT NULL DEFAULT ''"
        if self.views.dialect == "postgres":
            with self.views.read() as db:  # ALTER locks the table even when there is nothing to add
                db.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                           " AND table_name = 'api_keys' AND column_name = 'permissions'",
                           [self.views.datastore.schema])  # type: ignore[union-attr]
                if db.fetchone() is not None:
                    return
            # create_tables holds the schema lock; IF NOT EXISTS: another process may be first.
            self.views.create_tables([f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {column}"])
            return
        with self.views.write() as db:  # SQLite's write lock: one process adds it
            db.execute(f"PRAGMA table_info({self.table})")
            if "permissions" not in {row["name"] for row in db.fetchall()}:
                db.execute(f"ALTER TABLE {self.table} ADD COLUMN {column}")

    def create(self, name: str, role: Role, allow: Iterable[str] = (), *,
               agent_id: str | None = None, team: str | None = None) -> str:
        """A new key; the returned string is the only time the secret is seen. ``allow``:
        the privileged event types (merges, unmerges, erasure requests) an ``ingest`` key
        may publish; ``agent_id`` (and ``team``): the agent an agent or admin key belongs to."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if not name or len(name) > 100 or text_problem(name):
            raise ValueError("a key's name is one line of 1 to 100 characters, without control "
                             "characters")
        permissions = sorted(set(allow))
        unknown = [p for p in permissions if p not in PRIVILEGED_TYPES]
        if unknown:
            raise ValueError(f"unknown permission {', '.join(map(repr, unknown))}; permissions are "
                             f"the event types {', '.join(sorted(PRIVILEGED_TYPES))}")
        if permissions and role != "ingest":
            raise ValueError("only ingest keys publish events: --allow needs --role ingest")
        for label, value in (("agent id", agent_id), ("team", team)):
            if value is not None and (not _NAMED.fullmatch(value) or text_problem(value)):
                raise ValueError(f"{label} {value!r}: 1 to 64 letters, digits, '-', '_', '.'"
                                 " or ':', starting with a letter or digit")
        if team is not None and agent_id is None:
            raise ValueError("a team belongs to an agent: --team needs --agent")
        if agent_id is not None and role == "ingest":
            raise ValueError("an ingest key publishes for a system, not an agent: --agent "
                             "needs --role agent or admin")
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        with self.views.write() as db:
            db.execute(
                f"INSERT INTO {self.table} (key_id, name, role, digest, created_at, permissions,"
                " agent_id, team) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [key_id, name, role, _digest(secret), datetime.now(UTC).isoformat(),
                 ",".join(permissions), agent_id, team],
            )
        return f"crm_{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        self._verified = {k: v for k, v in self._verified.items() if v[1].key_id != key_id}
        with self.views.write() as db:
            db.execute(
                f"UPDATE {self.table} SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL",
                [datetime.now(UTC).isoformat(), key_id],
            )
            db.execute(f"SELECT revoked_at FROM {self.table} WHERE key_id = %s", [key_id])
            row = db.fetchone()
        return row is not None

    def list(self) -> list[Row]:
        with self.views.read() as db:
            db.execute(f"SELECT key_id, name, role, permissions, agent_id, team, created_at,"
                       f" revoked_at FROM {self.table} ORDER BY created_at")
            return db.fetchall()

    def team(self, team: str) -> list[str] | None:
        """The agents of ``team`` named by its active keys, in id order (None: no active
        key names that team)."""
        with self.views.read() as db:
            db.execute(f"SELECT DISTINCT agent_id FROM {self.table} WHERE team = %s"
                       " AND revoked_at IS NULL AND agent_id IS NOT NULL ORDER BY agent_id",
                       [team])
            agents = [row["agent_id"] for row in db.fetchall()]
        return agents or None

    def names_agent(self, agent_id: str) -> bool:
        """Whether an active key names this agent."""
        with self.views.read() as db:
            db.execute(f"SELECT 1 FROM {self.table} WHERE agent_id = %s AND revoked_at IS NULL",
                       [agent_id])
            return db.fetchone() is not None

    def remembered(self, key: str) -> Caller | None:
        """The caller of ``key`` if it was verified in the last ``VERIFIED_SECONDS``
        (no database read), else None: ask ``verify``."""
        remembered = self._verified.get(_digest(key))
        if remembered is not None and time.monotonic() - remembered[0] < VERIFIED_SECONDS:
            return remembered[1]
        return None

    def verify(self, key: str) -> Caller | None:
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != "crm" or not _KEY_ID.fullmatch(key_id) or not secret:
            return None
        if (caller := self.remembered(key)) is not None:
            return caller
        with self.views.read() as db:
            db.execute(f"SELECT name, role, digest, revoked_at, permissions, agent_id, team"
                       f" FROM {self.table} WHERE key_id = %s", [key_id])
            row = db.fetchone()
        if row is None or row["revoked_at"] or not hmac.compare_digest(row["digest"], _digest(secret)):
            return None
        caller = Caller(key_id, row["name"], row["role"], _permissions(row["permissions"]),
                        row["agent_id"], row["team"])
        self._verified[_digest(key)] = (time.monotonic(), caller)
        return caller
