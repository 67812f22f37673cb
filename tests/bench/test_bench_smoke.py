"""Every benchmark of bench/ runs with --smoke and prints its figures: they do not rot.

Each script runs as a subprocess (as a person would run it) on the local Kafka
and PostgreSQL; the test reads its Markdown table and checks that the headline
figures are numbers above zero. Targets are not asserted: a smoke run is too
small to reach them.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from service.settings import REPO_ROOT

pytestmark = pytest.mark.integration

#: script -> rows (by the start of their benchmark column) whose figure must be > 0
EXPECTED = {
    "ingest.py": ["ingest: crm-timeline consume", "ingest against COPY",
                  "exactly once", "consumer peak RSS"],
    "project.py": ["project (one projector): crm-timeline project",
                   "project (2 shards): crm-timeline project", "projector peak RSS"],
    "replay.py": ["replay: the"],
    "timeline_reads.py": ["timeline reads: p99", "timeline reads: p50",
                          "timeline reads: achieved rate"],
    "customer_reads.py": ["360 reads: p99", "360 reads: p50", "360 reads: achieved rate"],
    "freshness.py": ["freshness: p99", "freshness: p50", "achieved publish rate"],
    "churn.py": ["churn back-test, the 360's model", "churn back-test, naive rule",
                 "churn back-test, oracle"],
    "export.py": ["export facts to Parquet", "export peak RSS", "segment build:",
                  "segment build peak RSS"],
    "anomalies.py": ["anomalies: amount_outlier", "anomalies: order_burst",
                     "anomalies: refund_heavy", "anomalies: contact_change_then_order",
                     "anomalies: the read model alone"],
}
#: script -> arguments beyond --smoke
ARGUMENTS = {"project.py": ["--shards", "1,2"]}
NUMBER = re.compile(r"-?[0-9][0-9,]*(\.[0-9]+)?")


def figures(output: str) -> dict[str, tuple[float, str]]:
    """benchmark -> (the figure's number, its reached column) from the printed table."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 6 or cells[0] == "benchmark":
            continue
        match = NUMBER.match(cells[1])
        assert match, f"figure of {cells[0]!r} is not a number: {cells[1]!r}"
        rows[cells[0]] = (float(match.group().replace(",", "")), cells[5])
    return rows


@pytest.mark.parametrize("script", list(EXPECTED))
def test_benchmark_smoke(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), "--smoke",
         *ARGUMENTS.get(script, [])],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=150,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert f"command: python bench/{script} --smoke" in result.stdout
    rows = figures(result.stdout)
    for wanted in EXPECTED[script]:
        found = [(name, value) for name, value in rows.items() if name.startswith(wanted)]
        assert found, f"{script} printed no {wanted!r} row:\n{result.stdout}"
        for name, (value, _) in found:
            assert value > 0, f"{script}: {name} is {value}:\n{result.stdout}"
