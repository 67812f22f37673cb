"""SLA alert delay: from a deadline passing to its breach alert arriving on crm.alerts.

    python bench/sla_delay.py --complaints 20

Records urgent complaints (1 h to first response) opened just under an hour
ago, so their deadlines pass one by one in the next seconds with no further
event; runs ``crm-timeline project`` (SLA clock and outbox relay, default
settings) and reads crm.alerts, printing each delay and p50/p95/max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer

from domain.facts import ReportedFact
from history.arrivals import Arrival
from service import bootstrap
from service.settings import REPO_ROOT, load_settings
from service.topics import ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=20)
    args = parser.parse_args()
    for script in ("kafka.sh", "postgres.sh"):
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), "start"], check=True)
    run = uuid.uuid4().hex[:8]
    os.environ.update({"CRM_STORE": "postgres", "CRM_POSTGRES_SCHEMA": f"bench_{run}",
                       "CRM_TOPIC_ALERTS": f"bench{run}.alerts",
                       "CRM_TOPIC_DEADLETTER": f"bench{run}.deadletter"})
    settings = load_settings()
    ensure_topics(settings)
    history = bootstrap.build_history(settings)
    first_due = datetime.now(UTC) + timedelta(seconds=8)
    dues = {f"K-{n}": first_due + timedelta(seconds=n) for n in range(args.complaints)}
    history.record([
        Arrival("bench:feed", n, ReportedFact(f"b-{n}", "crm.complaint.opened", "bench", f"C-{n}",
                                       due - timedelta(hours=1),
                                       {"complaint_id": complaint, "priority": "urgent"}))
        for n, (complaint, due) in enumerate(dues.items())
    ])
    consumer = KafkaConsumer(settings.topic_alerts, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=500)
    projector = subprocess.Popen([sys.executable, "-m", "service.cli", "project"],
                                 env=dict(os.environ), stderr=subprocess.DEVNULL)
    delays: dict[str, float] = {}
    deadline = time.monotonic() + 60 + args.complaints
    try:
        while len(delays) < len(dues) and time.monotonic() < deadline:
            for message in consumer:
                arrived = datetime.now(UTC)
                alert = json.loads(message.value)["data"]  # a CloudEvent; data: the alert
                if alert["kind"] == "sla_breach" and alert["complaint_id"] not in delays:
                    delays[alert["complaint_id"]] = (arrived - dues[alert["complaint_id"]]).total_seconds()
    finally:
        projector.terminate()
        projector.wait()
        consumer.close()
    values = sorted(delays.values())
    print(f"breach alerts received: {len(values)} of {len(dues)} "
          f"(CRM_SLA_CHECK_SECONDS={settings.sla_check_seconds}, "
          f"CRM_ALERT_RELAY_SECONDS={settings.alert_relay_seconds})")
    print(f"delay from deadline to crm.alerts: p50 {statistics.median(values):.2f} s, "
          f"p95 {values[int(0.95 * (len(values) - 1))]:.2f} s, max {values[-1]:.2f} s")


if __name__ == "__main__":
    main()
