"""The OpenAPI document is a contract: schemathesis, with every check, finds nothing.

The real API is served by uvicorn over a store with sample customers (SQLite, the
default store), and schemathesis's command line, as an integrator would run it,
tests every operation with an agent's, an ingest and an admin key side by side:
statuses not in the document, answers not of their schema or media type, valid
requests refused, invalid ones let through, server errors. ``schemathesis.toml``
beside this file names, with reasons, the operations that judge more than a schema
can state. Bounded (``MAX_EXAMPLES`` per operation, deterministic generation) to keep
CI within its budget; the summary lines are printed for the record."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generators.loadgen import as_fact
from generators.sample import sample_events
from service.settings import REPO_ROOT
from tests.integration.conftest import Desk, ServedApi, service_under_test

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 12
#: The three runs' summary lines, kept after the run (artifacts/ is not committed).
SUMMARY = REPO_ROOT / "artifacts" / "schemathesis-summary.txt"


class LiveApi(ServedApi):
    """The API of ``desk`` served over HTTP."""

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk.settings, desk.history, desk.views, log_level="critical")


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """Sample customers recorded directly (their own topics: accepted events of the
    ingest key's run go there, never to a shared topic)."""
    logs = tmp_path_factory.mktemp("contract")
    store = {"CRM_STORE": "sqlite", "CRM_SQLITE_PATH": str(logs / "store.sqlite")}
    with service_under_test(store, logs) as service:
        desk = Desk(service.settings)
        try:
            events = [json.loads(e.value) for e in sample_events(8, poison=0)]
            desk.record(*[as_fact(e) for e in events])
            with LiveApi(desk) as api:
                yield api
        finally:
            desk.history.close()


CONFIG = Path(__file__).with_name("schemathesis.toml")
ROLES = ("agent", "ingest", "admin")


def schemathesis(api: LiveApi, key: str, workdir: Path) -> subprocess.Popen[str]:
    """schemathesis's command line against ``api`` with ``key``, every check (its cache
    in ``workdir``, not the repository)."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
         "run", f"{api.base}/openapi.json", "--checks", "all",
         "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--workers", "1",
         "--header", f"Authorization: Bearer {key}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir,
        env={**os.environ, "NO_COLOR": "1"})


def summary_line(output: str) -> str:
    """schemathesis's count of test cases and its last line, e.g. ``8437 generated, 8437
    passed, 42 skipped; ===== 2 warnings in 58.39s =====``."""
    lines = output.splitlines()
    counted = [after.strip() for before, after in zip(lines, lines[1:], strict=False)
               if before.strip() == "Test cases:"]
    last = [line for line in lines if re.fullmatch(r"=+ .+ in [0-9.]+s =+", line)]
    return "; ".join(counted[-1:] + last[-1:])


def test_schemathesis_finds_nothing_for_an_agent_an_ingest_and_an_admin_key(
    live_api: LiveApi, tmp_path: Path,
) -> None:
    """The three runs go side by side, each over every operation."""
    keys = live_api.app.state.keys
    runs = {role: schemathesis(live_api, keys.create(f"fuzz {role}", role), tmp_path)
            for role in ROLES}
    outputs = {role: run.communicate(timeout=600)[0] for role, run in runs.items()}
    summaries = [f"schemathesis, {role} key: {summary_line(outputs[role])}" for role in ROLES]
    print(*summaries, sep="\n")
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text("\n".join(summaries) + "\n")
    operations = len([op for methods in live_api.app.openapi()["paths"].values() for op in methods])
    for role, run in runs.items():
        output = outputs[role]
        assert run.returncode == 0, f"{role} key:\n{output[-20000:]}"
        assert re.search(rf"^\s*Tested: {operations}$", output, re.MULTILINE), output[-3000:]
        counted = re.search(r"([0-9]+) generated, ([0-9]+) passed(, [0-9]+ skipped)?$",
                            summary_line(output).split(";")[0])
        assert counted and counted[1] == counted[2] and int(counted[1]) > 0, summary_line(output)
        assert "fail" not in summary_line(output) and "error" not in summary_line(output)


def test_every_operation_is_named_tagged_typed_and_lists_its_errors_as_problems(
    live_api: LiveApi,
) -> None:
    document = live_api.app.openapi()
    seen = set()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert re.fullmatch(r"[a-z]+(?:[A-Z0-9][a-z0-9]*)+", operation["operationId"]), where
            assert operation["operationId"] not in seen and operation["tags"], where
            seen.add(operation["operationId"])
            answers = operation["responses"]
            (ok,) = [status for status in answers if status.startswith("2")]
            assert any(c.get("schema") for c in answers[ok]["content"].values()), where
            if operation.get("security"):
                assert {"401", "403"} <= set(answers), where
            if operation.get("parameters"):
                assert {"400", "422"} <= set(answers), where
            for status, answer in answers.items():
                if status.startswith("4"):
                    assert list(answer["content"]) == ["application/problem+json"], where
    events = document["components"]["schemas"]["IncomingEvent"]
    assert "crm.order.placed" in events["discriminator"]["mapping"]
    assert document["paths"]["/customers/{customer_id}"]["get"]["operationId"] == "getCustomer360"
