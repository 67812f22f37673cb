"""Projection catch-up: fill a store, then time each read model catching up from zero.

    python bench/project.py --customers 3000 --store postgres

Fills a fresh schema (or SQLite file) with the sample history through the
customer history's own ``record`` (no Kafka), then runs each live projection
from position zero and prints events/s; the reference line is reading the same
events from the store with no projection work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from datetime import datetime

from domain.facts import ReportedFact
from service import bootstrap, sample
from service.settings import REPO_ROOT, load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    if args.store == "postgres":
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "postgres.sh"), "start"], check=True)
    os.environ.update({
        "CRM_STORE": args.store,
        "CRM_POSTGRES_SCHEMA": f"bench_{uuid.uuid4().hex[:8]}",
        "CRM_SQLITE_PATH": os.path.join(tempfile.mkdtemp(), "bench.sqlite"),
    })
    settings = load_settings()
    history = bootstrap.build_history(settings)
    facts = []
    for event in sample.sample_events(args.customers, poison=0):
        e = json.loads(event.value)
        facts.append(ReportedFact(e["id"], e["type"], e["source"], e["subject"],
                                  datetime.fromisoformat(e["time"]), e["data"]))
    for start in range(0, len(facts), 1000):
        chunk = facts[start:start + 1000]
        history.record([("bench:fill", start + n, fact) for n, fact in enumerate(chunk)])
    total = len(facts)
    print(f"store={args.store} customers={args.customers} events={total}")

    started = time.perf_counter()
    position = 0
    while batch := history.recorder.select_notifications(start=position, limit=500,
                                                          inclusive_of_start=False):
        history.facts_of(batch)  # decoded and personal fields unsealed, as projections read
        position = batch[-1].id
    reference = time.perf_counter() - started
    print(f"reference (read, decode, unseal; no projection): {total / reference:,.0f} events/s")

    views = bootstrap.build_views(settings, history)
    overall = 0.0
    for projector in bootstrap.build_projectors(settings, history, views):
        started = time.perf_counter()
        projector.catch_up()
        elapsed = time.perf_counter() - started
        overall += elapsed
        print(f"{projector.read_model.name:12} {elapsed:6.1f} s {total / elapsed:10,.0f} events/s")
    print(f"all projections one after another: {total / overall:,.0f} events/s")


if __name__ == "__main__":
    main()
