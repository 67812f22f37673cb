"""Running the service: everything at once (``up``), or one process each (``consume``,
``project``, ``api``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from service.settings import REPO_ROOT, Settings

#: The processes ``up`` runs beside its API: (name, command, settings). The timeline has a
#: projector process of its own, so new events reach agents while the 360 and the reports
#: fold (threads of one process share one interpreter lock; processes share nothing).
UP_PROCESSES = (
    ("consumer", "consume", {}),
    ("timeline projector", "project", {"CRM_PROJECTIONS": "timeline"}),
    ("projector", "project", {"CRM_PROJECTIONS": "all,-timeline"}),
)


def _up(settings: Settings, args: argparse.Namespace) -> None:
    """Start Kafka (and PostgreSQL), the consumer and projector processes, serve the API
    here, and publish the sample; Ctrl-C stops them all."""
    from generators import sample
    from service import runtime
    from service.topics import ensure_topics

    _local_server("kafka")
    if settings.store == "postgres":
        _local_server("postgres")
    ensure_topics(settings)

    server = runtime.api_server(settings)  # makes every table before the others start
    demo_key = server.config.app.state.keys.create("demo", "admin")
    children = [_child(command, settings, n, extra) for n, (_, command, extra)
                in enumerate(UP_PROCESSES, start=1)]
    threading.Thread(target=server.run, name="api", daemon=True).start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.1)
        else:
            raise SystemExit(
                f"crm-timeline: the API could not listen on {settings.api_host}:"
                f"{settings.api_port} (is the port in use? set CRM_API_PORT)")

        def publish_sample() -> None:
            events = sample.sample_events(args.customers, topic_of=settings.topic_for)
            sample.publish(events, settings.kafka_client())
            base = f"http://{settings.api_host}:{settings.api_port}"
            print(f"{len(events):,} sample events published; the views are catching up...",
                  flush=True)
            _wait_until_settled(settings, server.config.app.state.read_side)
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
                "  Processes:           API here; "
                + ", ".join(f"{name} (pid {child.pid})"
                            for (name, _, _), child in zip(UP_PROCESSES, children, strict=True))
                + "\nPress Ctrl-C to stop (Kafka keeps running; scripts/kafka.sh stop ends it).",
                flush=True,
            )

        if not args.no_sample:
            threading.Thread(target=publish_sample, name="sample", daemon=True).start()
        _watch(children, [name for name, _, _ in UP_PROCESSES])
    finally:
        server.should_exit = True
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def _wait_until_settled(settings: Settings, side: Any, timeout: float = 300.0) -> None:
    """Until every published event is stored, every view is up to date and no alert waits
    to be relayed (or ``timeout`` seconds): the banner then ends a quiet terminal."""
    from service import bootstrap

    status = bootstrap.build_status(settings, side.history, side.views)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(2)
            with contextlib.suppress(Exception):  # not up yet: asked again
                now = status.gather()
                if (not now.problems and now.consumer_lag == 0 and now.outbox_backlog == 0
                        and all(p.behind == 0 for p in now.projections)):
                    time.sleep(1)  # the last batch's log lines
                    return
    finally:
        status.kafka.close()


def _child(command: str, settings: Settings, n: int, extra: dict[str, str]) -> subprocess.Popen[bytes]:
    """``crm-timeline command`` with this process's environment; with CRM_METRICS_PORT set,
    the n-th child serves its metrics on the port n above it."""
    env = {**os.environ, **extra}
    if settings.metrics_port:
        env["CRM_METRICS_PORT"] = str(settings.metrics_port + n)
    return subprocess.Popen([sys.executable, "-m", "service.cli", command], env=env)


def _watch(children: list[subprocess.Popen[bytes]], names: list[str]) -> None:
    """Until Ctrl-C or SIGTERM, or until a child ends (then say which, and stop)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        for name, child in zip(names, children, strict=True):
            if child.poll() is not None:
                raise SystemExit(f"crm-timeline up: the {name} stopped (exit code "
                                 f"{child.returncode}; its log is above); stopping the rest")


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
