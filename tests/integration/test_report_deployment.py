"""A report module deployed beside a running service: its replay goes live in the running
API and the running projector follows it, with no restart; ``replay`` says who serves it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from access.keys import KeyRing
from history.arrivals import Arrival
from projections import serving
from service.settings import REPO_ROOT
from tests.integration.conftest import ServiceUnderTest, free_port, wait_until
from tests.integration.test_reports import sample_facts

pytestmark = pytest.mark.integration

MODULE = '''
"""Contacts by channel (deployed while the service runs, by a test)."""

from projections.reports.base import Report


class ContactsByChannel(Report):
    name = "{name}"
    title = "Contacts by channel"
    reads = frozenset({{"crm.contact.logged"}})
    columns = ("channel", "contacts")

    def fold(self, rows, fact):
        row = rows.row(fact.data["channel"], channel=fact.data["channel"], contacts=0)
        row["contacts"] += 1


REPORT = ContactsByChannel
'''


@pytest.fixture
def deployed() -> Iterator[tuple[str, Path]]:
    """A report name and the module file that will declare it (removed afterwards)."""
    name = f"deployed_{uuid.uuid4().hex[:8]}"
    path = REPO_ROOT / "projections" / "reports" / f"{name}.py"
    try:
        yield name, path
    finally:
        path.unlink(missing_ok=True)
        for cached in (path.parent / "__pycache__").glob(f"{name}.*"):
            cached.unlink()


def contacts_by_channel(facts: list) -> dict[str, int]:
    return dict(Counter(f.data["channel"] for f in facts if f.event_type == "crm.contact.logged"))


def test_a_report_deployed_while_running_is_served_after_its_replay_without_restart(
    pg_service: ServiceUnderTest, deployed: tuple[str, Path],
) -> None:
    service, (name, path) = pg_service, deployed
    facts = sample_facts(12)
    early, late = facts[: len(facts) // 2], facts[len(facts) // 2:]
    service.history.record([Arrival("test:feed", n, f) for n, f in enumerate(early, start=1)])
    key = KeyRing(service.views).create("tests", "admin")
    port = free_port()
    service.start("api", env={"CRM_API_PORT": str(port)})
    service.start("project")
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)

    def roles() -> set[str]:
        try:
            return {p["role"] for p in api.get("/reports").json()["processes"]}
        except httpx.HTTPError:
            return set()

    wait_until(lambda: roles() == {"api", "projector"}, timeout=60, what="both processes to announce")
    assert api.get(f"/reports/{name}").status_code == 404

    path.write_text(textwrap.dedent(MODULE.format(name=name)))
    replayed = subprocess.run([sys.executable, "-m", "service.cli", "replay", name],
                              env={**os.environ, **service.env},
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    said = replayed.stdout.splitlines()[-1]
    assert said.startswith(f"{name}: generation 2 is live, served by api "), said
    assert "kept up to date by projector " in said

    answer = api.get(f"/reports/{name}")
    assert answer.status_code == 200, answer.text
    assert {r["channel"]: r["contacts"] for r in answer.json()["rows"]} == contacts_by_channel(early)
    listed = {r["name"]: r for r in api.get("/reports").json()["reports"]}[name]
    assert {(p["role"], p["generation"]) for p in listed["served_by"]} == {("api", 2), ("projector", 2)}

    # The running projector follows the new generation: later facts reach it.
    service.history.record([Arrival("test:feed", n, f)
                            for n, f in enumerate(late, start=len(early) + 1)])
    wait_until(lambda: {r["channel"]: r["contacts"] for r in api.get(f"/reports/{name}").json()["rows"]}
               == contacts_by_channel(facts), timeout=60, what="the projector to fold the later facts")


def test_replay_does_not_call_a_generation_live_that_no_api_serves(pg_service: ServiceUnderTest) -> None:
    registry = serving.ServingRegistry(pg_service.views)
    registry.beat("api 1@old-host", "api", {"contact_channel_mix": 1})
    registry.beat("projector 2@host", "projector", {"contact_channel_mix": 2})
    reached = serving.reach(registry, {"contact_channel_mix": 2}, wait_seconds=1,
                            sleep=lambda _: None)["contact_channel_mix"]
    said = reached.describe("contact_channel_mix", 2)
    assert said.startswith("contact_channel_mix: generation 2 is swapped in, but NOT served by "
                           "api 1@old-host"), said
    assert "kept up to date by projector 2@host" in said
    registry.leave("api 1@old-host")
    alone = serving.reach(registry, {"contact_channel_mix": 2}, wait_seconds=0)["contact_channel_mix"]
    assert "no API process is running to serve it" in alone.describe("contact_channel_mix", 2)
