"""Exporting facts to Parquet and building a segment: time and peak memory of
`crm-timeline export facts` and of `crm-timeline segments build`.

    python bench/export.py                 # 1,000,000 events, 50,000 customers, Zipf 1.1
    python bench/export.py --smoke         # a few thousand, for CI

Fills a fresh schema with the load (``generators.loadgen``) through the customer
history's own ``record`` (no Kafka). Then:

* reference: reading and decoding the same events (``history.facts_of`` without
  personal data, batches of 5,000, as the export reads them), nothing written;
* the service: ``crm-timeline export facts --format parquet`` as a process, timed from
  start to exit, with its peak RSS; the file is read back with DuckDB to check that
  every fact is in it.

Then the customer 360 is projected (``crm-timeline project`` with
``CRM_PROJECTIONS=customer360``, not measured), a segment is defined (gold or
platinum, e-mail consent given, no order in 60 days) and built by
``crm-timeline segments build`` as a process, timed with its peak RSS, beside a
reference that reads and decodes every 360 row once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import harness

from generators import loadgen
from service.settings import REPO_ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="stored events (1000000; smoke 3000)")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, events=(1_000_000, 3_000), customers=(50_000, 500))

    with harness.Run(kafka=False, keep=args.keep) as run, tempfile.TemporaryDirectory() as tmp:
        history = run.history()
        harness.fill(history, loadgen.reported_facts(args.events, customers=args.customers,
                                                     zipf=args.zipf, seed=args.seed),
                     total=args.events, progress=not args.smoke)
        read, reference = harness.read_store(history, 5_000, personal_data=False)
        out = Path(tmp) / "facts.parquet"
        elapsed, peak = measured(["export", "facts", "--format", "parquet", "--out", str(out)])
        exported = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
        size = out.stat().st_size / 1e6
        built, build_rss, customers, reference_rows = build_segment(run, history)
    assert exported == read, f"{exported} rows exported of {read} facts"
    harness.print_table(
        f"export: {read:,} stored events, {args.customers:,} customers, Zipf {args.zipf}, "
        f"{os.cpu_count()} cores",
        [harness.Row("export facts to Parquet: crm-timeline export facts, start to exit",
                     f"{elapsed:,.1f} s ({read / elapsed:,.0f} ev/s, {size:,.0f} MB)",
                     f"{reference:,.1f} s (read + decode with facts_of, nothing written)",
                     harness.ratio(reference, elapsed), "-", None),
         harness.Row("export peak RSS (VmHWM)", f"{peak:,.0f} MB", target="<= 500 MB",
                     reached=peak <= 500),
         harness.Row("segment build: crm-timeline segments build, start to exit",
                     f"{built:,.1f} s ({customers / built:,.0f} customers/s, {customers:,} customers)",
                     f"{reference_rows:,.1f} s (every 360 row read and decoded once)",
                     harness.ratio(reference_rows, built), "-", None),
         harness.Row("segment build peak RSS (VmHWM)", f"{build_rss:,.0f} MB",
                     target="<= 500 MB", reached=build_rss <= 500)])
    return 0


RULE = {"all": [{"field": "loyalty.tier", "in": ["gold", "platinum"]},
                {"field": "consents.email", "eq": True},
                {"field": "days_since_last_order", "gte": 60}]}


def build_segment(run: harness.Run, history: object) -> tuple[float, float, int, float]:
    """Project the 360, define a segment and build it: (seconds, peak RSS of the build,
    customers, seconds of the reference)."""
    from domain.segment_rules import parse_rule
    from projections.catalog import CUSTOMER_360
    from projections.segments import SegmentBook
    from service import bootstrap

    settings = run.settings
    views = bootstrap.build_views(settings, history)
    catalog = bootstrap.build_catalog(settings, history, views)
    last = history.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    projector = run.spawn("project", CRM_PROJECTIONS="customer360")
    harness.wait_until(lambda: (views.position(CUSTOMER_360) or 0) >= last, timeout=7200,
                       what="the 360 to catch up", services=[projector])
    projector.stop()

    people = catalog.live(CUSTOMER_360)
    started, after, customers = time.perf_counter(), None, 0
    while True:
        with views.read() as db:
            rows = people.rows_after(db, after, 1000)
        if not rows:
            break
        customers += sum(1 for row in rows if json.loads(row["document"]))
        after = rows[-1]["customer_id"]
    reference = time.perf_counter() - started

    SegmentBook(views).define("bench", parse_rule(RULE), "bench", "bench")
    elapsed, peak = measured(["segments", "build"])
    return elapsed, peak, customers, reference


def measured(arguments: list[str]) -> tuple[float, float]:
    """Run ``crm-timeline ARGUMENTS``: (seconds from start to exit, its own peak RSS in MB:
    its VmHWM read every 50 ms, since a child's ``ru_maxrss`` starts at this process's)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "service.cli", *arguments],
                                   stdout=subprocess.DEVNULL, stderr=errors,
                                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, harness.peak_rss_mb(process.pid))  # 0 once it is gone
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"crm-timeline {' '.join(arguments)} failed:\n"
                             f"{errors.read().decode()[-3000:]}")
    return elapsed, peak


if __name__ == "__main__":
    sys.exit(main())
