"""``status`` (the service's lag on one screen) and ``config`` (every setting)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from service.settings import Settings, describe_settings


def _status(settings: Settings, args: argparse.Namespace) -> None:
    """Consumer lag, projection positions and lag, dead letters and alert outbox, one screen."""
    import dataclasses
    import json

    from service import bootstrap

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # a broker down is told below, once
    history = bootstrap.build_history(settings)
    status = bootstrap.build_status(settings, history, bootstrap.build_views(settings, history))
    now = status.gather()
    status.kafka.close()
    if args.json:
        as_dict = dataclasses.asdict(now)
        as_dict["alerts"] = [{"kind": k, "status": s, "count": n} for (k, s), n in now.alerts.items()]
        print(json.dumps(as_dict, default=str, indent=2))
        return
    print(f"crm-timeline status at {now.checked_at:%Y-%m-%d %H:%M:%S} UTC ({settings.store} store, "
          f"Kafka {settings.kafka_bootstrap})")
    for problem in now.problems:
        print(f"  PROBLEM  {problem}")
    print(f"\nconsumer lag (group {settings.consumer_group}; offsets stored with the events): "
          f"{now.consumer_lag:,} messages")
    for p in now.partitions:
        stored = "-" if p.stored is None else f"{p.stored:,}"
        advanced = ("" if p.advanced_at is None else
                    f"  last advanced {(now.checked_at - p.advanced_at).total_seconds():,.0f} s ago")
        print(f"  {p.topic + '/' + str(p.partition):32} end {p.end:>12,}  stored {stored:>12}  "
              f"lag {p.lag:>10,}{advanced}")
    recorded = "?" if now.recorded is None else f"{now.recorded:,}"
    print(f"\nprojections (history at position {recorded}):")
    for r in now.projections:
        print(f"  {r.name:40} position {r.position:>12,}  behind {r.behind:>10,}  "
              f"{r.seconds:>8.1f} s")
    for name, count in sorted(now.set_aside.items()):
        print(f"  {name:40} set aside {count:,} facts it could not apply (not acknowledged; "
              "crm-timeline projections set-aside list)")
    dead = "?" if now.dead_letters is None else f"{now.dead_letters:,}"
    waiting = "?" if now.dead_letter_backlog is None else f"{now.dead_letter_backlog:,}"
    backlog = "?" if now.outbox_backlog is None else f"{now.outbox_backlog:,}"
    alerts = ", ".join(f"{k} {s} {n:,}" for (k, s), n in sorted(now.alerts.items())) or "none"
    print(f"\ndead letters: {dead} recorded, {waiting} waiting for {settings.topic_deadletter}"
          f"\nalert outbox: {backlog} waiting for {settings.topic_alerts}"
          f"\nalerts: {alerts}")
    if now.problems:
        raise SystemExit(1)


def _config(_: Settings, __: argparse.Namespace) -> None:
    for name, default, description in describe_settings():
        print(f"{name:32} {default:40} {description}")


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status", help="consumer lag, projection lag, dead letters and alert outbox, one screen")
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(run=_status)

    commands.add_parser("config", help="list every setting with its default").set_defaults(
        run=_config
    )
