"""``crm-timeline``: the command line of the service, one module per command group."""

from __future__ import annotations

import argparse
import sys

from service.cli import (
    deadletters,
    exporting,
    keys,
    models,
    publishing,
    rebuilding,
    running,
    schemas,
    segmenting,
    set_aside,
    sla,
    status,
    webhooks,
)
from service.logs import configure_logging
from service.settings import SettingsError, load_settings
from service.sla_config import SlaConfigError

#: Each module adds its commands, in the order ``--help`` lists them.
GROUPS = (running, publishing, rebuilding, exporting, schemas, segmenting, sla, models, keys,
          webhooks, deadletters, set_aside, status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-timeline",
        description="Event-sourced customer timeline: Kafka in, event store, read models, API. "
        "Configured by CRM_* environment variables (see `crm-timeline config`).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"crm-timeline: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, verbose=args.verbose)
    try:
        args.run(settings, args)
    except KeyboardInterrupt:
        pass
    except (SlaConfigError, SettingsError) as error:
        print(f"crm-timeline: {error}", file=sys.stderr)
        return 2
    return 0
