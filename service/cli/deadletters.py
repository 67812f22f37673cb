"""``deadletter``: the dead-letter topic, listed, inspected and re-driven after a fix."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from service.settings import Settings


def _deadletter(settings: Settings, args: argparse.Namespace) -> None:
    """List, inspect and re-drive the dead-letter topic's messages."""
    import json
    from datetime import UTC, datetime
    from typing import NoReturn

    from kafka.errors import KafkaError

    from consumers.redrive import parse_name, read_dead_letters, redrive

    def refuse(message: str) -> NoReturn:
        """A usage error: exit 2 like argparse, so scripts can tell it from a Kafka failure."""
        print(f"crm-timeline deadletter: {message}", file=sys.stderr)
        raise SystemExit(2)

    topic = settings.topic_deadletter
    names = getattr(args, "names", None) or []
    if args.action == "redrive" and not (names or args.reason or args.error_class or args.all):
        refuse("redrive: name letters (PARTITION:OFFSET), or choose them with --reason TEXT "
               "or --class CLASS, or --all")
    try:
        # Chosen by reason or --all, a letter re-driven and rejected again is left to its copy.
        letters = read_dead_letters(settings.kafka_client(), topic,
                                    reason=getattr(args, "reason", None),
                                    error_class=getattr(args, "error_class", None), names=names,
                                    latest_only=args.action == "redrive" and not names)
    except ValueError as error:
        refuse(str(error))
    except KafkaError as error:
        raise SystemExit(f"crm-timeline deadletter: Kafka at {settings.kafka_bootstrap}: "
                         f"{error}") from None
    missing = sorted({parse_name(n) for n in names} - {(x.partition, x.offset) for x in letters})
    if missing:
        refuse(f"no dead letter {', '.join(f'{p}:{o}' for p, o in missing)} on {topic}")
    if args.action == "list":
        for letter in letters[-args.limit:] if args.limit else letters:
            key = (letter.key or b"").decode("utf-8", "replace")[:24]
            print(f"{letter.name:>10}  {letter.rejected_at[:19]}  "
                  f"{letter.source_topic}/{letter.source_partition}@{letter.source_offset}  "
                  f"{key:24}  {letter.error_class:16}  {letter.reason[:100]}")
        shown = f" (the newest {args.limit} shown)" if 0 < args.limit < len(letters) else ""
        print(f"{len(letters)} dead letters on {topic}{shown}" if letters
              else f"no dead letters on {topic}")
    elif args.action == "inspect":
        letter = letters[0]
        print(f"dead letter {letter.name} on {topic}\n"
              f"  rejected at   {letter.rejected_at}\n"
              f"  came from     {letter.source_topic} partition {letter.source_partition} "
              f"offset {letter.source_offset}\n"
              f"  reason        {letter.reason}\n"
              f"  error class   {letter.error_class}\n"
              f"  key           {letter.key!r}")
        if letter.timestamp_ms is not None:
            stamp = datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC).isoformat()
            print(f"  record time   {stamp} (the original record's timestamp)")
        if letter.consumer_group:
            print(f"  rejected by   consumer group {letter.consumer_group}")
        if letter.redriven_from:
            print(f"  re-drive of   {letter.redriven_from}")
        for name, header in letter.headers:
            print(f"  header        {name} = {header!r}")
        try:
            shown = json.dumps(json.loads(letter.value or b""), indent=2, ensure_ascii=False)
        except ValueError:
            shown = repr((letter.value or b"")[:2000])
        print(f"  value\n{shown}")
    else:
        if args.dry_run:
            for letter in letters:
                print(f"would re-drive {letter.name} to {letter.source_topic}: {letter.reason[:80]}")
            print(f"{len(letters)} dead letters would be re-driven (dry run: nothing published)")
            return
        try:
            count = redrive(settings.kafka_client(), topic, letters)
        except KafkaError as error:
            raise SystemExit(f"crm-timeline deadletter: re-driving to Kafka at "
                             f"{settings.kafka_bootstrap} failed ({error}); re-driving again "
                             "is safe") from None
        print(f"re-drove {count} dead letters to their topics; the consumer stores each event "
              f"id once, and dead-letters again what is still wrong")


def register(commands: Any) -> None:
    deadletter = commands.add_parser(
        "deadletter", help="list, inspect and re-drive messages on the dead-letter topic")
    letter_actions = deadletter.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = letter_actions.add_parser("list", help="one line per dead letter, oldest first")
    listing.add_argument("--reason", help="only those whose reason contains this text")
    listing.add_argument("--class", dest="error_class", metavar="CLASS",
                         help="only those of this error class (dlq.error.class: not_json, "
                         "schema, unknown_type, future_time, refused_by_store, ...; "
                         "'unknown' for letters published before classes existed)")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N")
    inspect = letter_actions.add_parser("inspect", help="one dead letter whole")
    inspect.add_argument("names", nargs=1, metavar="PARTITION:OFFSET")
    again = letter_actions.add_parser(
        "redrive", help="publish dead letters again to their topics, as they came (after a fix)")
    again.add_argument("names", nargs="*", metavar="PARTITION:OFFSET")
    again.add_argument("--reason", help="those whose reason contains this text")
    again.add_argument("--class", dest="error_class", metavar="CLASS",
                       help="those of this error class (dlq.error.class)")
    again.add_argument("--all", action="store_true", help="every dead letter")
    again.add_argument("--dry-run", action="store_true", help="say what would be re-driven")
    deadletter.set_defaults(run=_deadletter)
