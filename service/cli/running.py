"""Running the service: everything at once (``up``), or one process each (``consume``,
``project``, ``api``)."""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from typing import Any

from service.settings import REPO_ROOT, Settings


def _up(settings: Settings, args: argparse.Namespace) -> None:
    """Start Kafka (and PostgreSQL), ingest, project, serve, and publish the sample."""
    from generators import sample
    from service import runtime
    from service.topics import ensure_topics

    _local_server("kafka")
    if settings.store == "postgres":
        _local_server("postgres")
    ensure_topics(settings)

    stop = threading.Event()
    runtime.start_projectors(settings, stop)
    server = runtime.api_server(settings)
    demo_key = server.config.app.state.keys.create("demo", "admin")
    threading.Thread(target=server.run, name="api", daemon=True).start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    else:
        raise SystemExit(
            f"crm-timeline: the API could not listen on {settings.api_host}:{settings.api_port} "
            "(is the port in use? set CRM_API_PORT)"
        )

    def publish_sample() -> None:
        events = sample.sample_events(args.customers, topic_of=settings.topic_for)
        sample.publish(events, settings.kafka_client())
        base = f"http://{settings.api_host}:{settings.api_port}"
        time.sleep(2)
        print(
            f"\nThe customer timeline service is running ({settings.store} store).\n"
            f"  Agents' console:     {base}/  (sign in with the admin key below)\n"
            f"  API docs (OpenAPI):  {base}/docs\n"
            f"  A timeline:          {base}/customers/C-10000/timeline\n"
            f"  Only orders:         {base}/customers/C-10000/timeline?type=crm.order\n"
            f"  Health:              {base}/healthz\n"
            f"  API key (admin):     {demo_key}\n"
            f"    e.g. curl -H 'Authorization: Bearer {demo_key}' {base}/customers/C-10000\n"
            f"  Dead letters:        Kafka topic {settings.topic_deadletter}\n"
            "Press Ctrl-C to stop (Kafka keeps running; scripts/kafka.sh stop ends it).",
            flush=True,
        )

    if not args.no_sample:
        threading.Thread(target=publish_sample, name="sample", daemon=True).start()
    try:
        runtime.run_consumer(settings)
    finally:
        stop.set()
        server.should_exit = True


def _local_server(name: str) -> None:
    script = REPO_ROOT / "scripts" / f"{name}.sh"
    subprocess.run(["bash", str(script), "start"], check=True)


def _runtime() -> Any:
    """Imported late: ``config`` and ``--help`` stay instant."""
    from service import runtime

    return runtime


def register(commands: Any) -> None:
    up = commands.add_parser("up", help="start everything locally and load the sample")
    up.add_argument("--customers", type=int, default=300, help="sample size (default 300)")
    up.add_argument("--no-sample", action="store_true", help="do not publish the sample")
    up.set_defaults(run=_up)

    commands.add_parser("consume", help="ingest the Kafka topics into the event store").set_defaults(
        run=lambda s, _: _runtime().run_consumer(s)
    )
    commands.add_parser("project", help="keep the read models up to date").set_defaults(
        run=lambda s, _: _runtime().run_projectors(s)
    )
    commands.add_parser("api", help="serve the HTTP API").set_defaults(
        run=lambda s, _: _runtime().run_api(s)
    )
