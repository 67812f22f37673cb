"""Ingestion throughput: publish the sample through Kafka, time the consumer storing it.

    python bench/ingest.py --customers 2000 --store postgres

Prints events published, stored, seconds and events/s from the consumer's
start to the last event stored (the publish time is reported separately).
Uses fresh topics and a fresh schema (or SQLite file) each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

from service import bootstrap, sample
from service.settings import REPO_ROOT, load_settings
from service.topics import ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()

    for script in ["kafka.sh"] + (["postgres.sh"] if args.store == "postgres" else []):
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), "start"], check=True)
    run = uuid.uuid4().hex[:8]
    env = {
        "CRM_STORE": args.store,
        "CRM_POSTGRES_SCHEMA": f"bench_{run}",
        "CRM_SQLITE_PATH": os.path.join(tempfile.mkdtemp(), "bench.sqlite"),
        "CRM_CONSUMER_GROUP": f"bench-{run}",
        **{f"CRM_TOPIC_{name.upper()}": f"bench{run}.{name}"
           for name in ("contacts", "orders", "complaints", "accounts", "deadletter")},
    }
    os.environ.update(env)
    settings = load_settings()
    ensure_topics(settings)
    events = sample.sample_events(args.customers, poison=0, topic_of=settings.topic_for)
    started = time.perf_counter()
    sample.publish(events, settings.kafka_bootstrap)
    published_in = time.perf_counter() - started

    history = bootstrap.build_history(settings)
    consumer = subprocess.Popen([sys.executable, "-m", "service.cli", "consume"],
                                env={**os.environ}, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    try:
        while (history.recorder.max_notification_id() or 0) < len(events):
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    finally:
        consumer.terminate()
        consumer.wait()
    print(f"store={args.store} customers={args.customers} events={len(events)}")
    print(f"publish (kafka-python, acks=all): {published_in:.1f} s, {len(events) / published_in:,.0f} events/s")
    print(f"ingest (consumer start to last stored, incl. ~start-up): {elapsed:.1f} s, "
          f"{len(events) / elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
