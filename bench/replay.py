"""Replay rate: the four built-in reports rebuilt together from a filled store.

    python bench/replay.py --customers 12000 --store postgres

Fills a fresh schema with the sample history through the customer history's
own ``record`` (no Kafka; skipped with --reuse SCHEMA), then rebuilds every
report from the first event, one after another, and prints events/s for each
and for the four together (total events / total seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import uuid
from datetime import datetime

from tqdm import tqdm

from domain.facts import ReportedFact
from projections import replay
from service import bootstrap, sample
from service.settings import REPO_ROOT, load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12000)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--reuse", help="an already filled PostgreSQL schema")
    args = parser.parse_args()
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "postgres.sh"), "start"], check=True)
    schema = args.reuse or f"bench_{uuid.uuid4().hex[:8]}"
    os.environ.update({"CRM_STORE": args.store, "CRM_POSTGRES_SCHEMA": schema,
                       "CRM_SQLITE_PATH": str(REPO_ROOT / ".local" / f"{schema}.sqlite")})
    settings = load_settings()
    history = bootstrap.build_history(settings)
    if not args.reuse:
        events = sample.sample_events(args.customers, poison=0)
        for start in tqdm(range(0, len(events), 2000), desc="filling the store", unit="batch"):
            facts = []
            for event in events[start:start + 2000]:
                e = json.loads(event.value)
                facts.append(ReportedFact(e["id"], e["type"], e["source"], e["subject"],
                                          datetime.fromisoformat(e["time"]), e["data"]))
            history.record([("bench:fill", start + n, f) for n, f in enumerate(facts)])
    total = history.recorder.max_notification_id() or 0
    print(f"store={args.store} schema={schema} events={total}")
    views = bootstrap.build_views(settings, history)
    catalog = bootstrap.build_catalog(settings, history, views)
    overall = 0.0
    for name in catalog.reports:
        started = time.perf_counter()
        replay.replay(catalog, name)
        elapsed = time.perf_counter() - started
        overall += elapsed
        print(f"{name:28} {elapsed:7.1f} s {total / elapsed:10,.0f} events/s")
    print(f"four reports together: {overall:.1f} s for {total} events each, "
          f"{4 * total / overall:,.0f} report-events/s ({total / overall:,.0f} store events/s)")


if __name__ == "__main__":
    main()
