"""Exports for SQL: what `crm-timeline export` writes, read back with DuckDB, equals the
store's facts (personal fields left out unless asked for), the live 360s and a report's
rows; an erased customer's personal data is in no export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from domain.personal_data import has_field
from schemas.registry import personal_fields
from service.settings import REPO_ROOT
from tests.integration.conftest import Desk
from tests.integration.test_reports import sample_facts

pytestmark = pytest.mark.integration


def export(tmp_path: Path, *args: str) -> tuple[Path | None, str]:
    """Run `crm-timeline export ARGS` in the test's store environment; (the file, stderr)."""
    out = tmp_path / f"export-{len(list(tmp_path.iterdir()))}"
    command = [sys.executable, "-m", "service.cli", "export", *args]
    if "--out" not in args:
        command += ["--out", str(out)]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return (out if "--out" not in args else None), done.stdout + done.stderr


def erased_desk(desk: Desk) -> tuple[list, str, dict]:
    """Sample facts with the first customer's erasure requested; (facts, customer, their
    opening data as sent)."""
    facts = sample_facts(40)
    erased = sorted(f.customer_id for f in facts if f.event_type == "crm.account.opened")[0]
    opened = next(f for f in facts if f.customer_id == erased and f.event_type == "crm.account.opened")
    request = type(opened)("erase-1", "crm.account.erasure_requested", "test", erased,
                           datetime(2026, 12, 1, tzinfo=UTC), {})
    desk.record(*facts, request)
    return [*facts, request], erased, opened.data


def test_facts_to_parquet_read_back_with_duckdb_equal_the_store_minus_personal_fields(
        desk: Desk, tmp_path: Path) -> None:
    facts, erased, opened = erased_desk(desk)
    path, said = export(tmp_path, "facts", "--format", "parquet")
    assert f"{len(facts):,} rows of facts written to {path}" in said
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY position").fetchall()
    columns = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    exported = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [r["event_id"] for r in exported] == [f.event_id for f in facts]
    for row, fact in zip(exported, facts, strict=True):
        assert (row["event_type"], row["customer_id"], row["occurred_at"]) == (
            fact.event_type, fact.customer_id, fact.occurred_at)
        data = json.loads(row["data"])
        paths = personal_fields(fact.event_type)
        assert not any(has_field(data, p) for p in paths)  # left out, not even null
        expected = json.loads(json.dumps(fact.data))
        for personal in paths:
            node = expected
            for name in personal[:-1]:
                node = node.get(name) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(personal[-1], None)
        assert data == expected
    # Typed columns: SQL over them without casts.
    by_type = dict(duckdb.sql(f"SELECT event_type, count(*) FROM read_parquet('{path}') "
                              "GROUP BY 1").fetchall())
    assert by_type["crm.account.opened"] == 40
    assert duckdb.sql(f"SELECT max(occurred_at) FROM read_parquet('{path}')").fetchone()[0] == max(
        f.occurred_at for f in facts)

    # Asked for, personal fields come along, but never an erased customer's.
    path, said = export(tmp_path, "facts", "--format", "ndjson", "--personal")
    assert "personal fields included" in said
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    someone = next(f for f in facts if f.event_type == "crm.account.opened" and f.customer_id != erased)
    assert next(r for r in lines if r["event_id"] == someone.event_id)["data"]["email"] == someone.data["email"]
    text = path.read_text()
    assert opened["email"] not in text and opened["name"] not in text
    assert next(r for r in lines if r["customer_id"] == erased
                and r["event_type"] == "crm.account.opened")["data"]["email"] is None

    # A time range, to standard output.
    cut = sorted(f.occurred_at for f in facts)[len(facts) // 2]
    _, said = export(tmp_path, "facts", "--format", "ndjson", "--since", cut.isoformat(), "--out", "-")
    shown = [json.loads(line) for line in said.splitlines() if line.startswith("{")]
    assert {r["event_id"] for r in shown} == {f.event_id for f in facts if f.occurred_at >= cut}


def test_customers_and_a_report_exported_equal_the_api(desk: Desk, tmp_path: Path) -> None:
    facts, erased, opened = erased_desk(desk)
    path, said = export(tmp_path, "customers", "--format", "csv")
    table = duckdb.sql(f"SELECT * FROM read_csv('{path}', header=true)")
    assert "email" not in table.columns and "name" not in table.columns
    assert table.shape[0] == 40
    scored = duckdb.sql(f"SELECT customer_id, loyalty_score, loyalty_tier, as_of FROM read_csv("
                        f"'{path}') ORDER BY customer_id").fetchall()
    for customer, score, tier, as_of in scored[:10]:  # the 360 as of its last fact
        loyalty = desk.client.get(f"/customers/{customer}",
                                  params={"as_of": as_of.isoformat()}).json()["loyalty"]
        assert (loyalty["score"], loyalty["tier"]) == (score, tier)

    path, _ = export(tmp_path, "customers", "--format", "parquet", "--personal")
    who = dict(duckdb.sql(f"SELECT customer_id, email FROM read_parquet('{path}')").fetchall())
    assert who[erased] is None and sum(email is not None for email in who.values()) == 39

    path, _ = export(tmp_path, "report", "lifetime_value_by_channel", "--format", "parquet")
    exported = duckdb.sql(f"SELECT channel, customers, lifetime_value FROM read_parquet('{path}') "
                          "ORDER BY channel").fetchall()
    served = desk.client.get("/reports/lifetime_value_by_channel").json()["rows"]
    assert exported == [(r["channel"], r["customers"], float(r["lifetime_value"])) for r in served]

    refused = subprocess.run([sys.executable, "-m", "service.cli", "export", "report", "nope"],
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "nope" in refused.stderr and "Traceback" not in refused.stderr
