"""``crm-timeline``: the command line of the service."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time

from service.logs import configure_logging
from service.settings import REPO_ROOT, Settings, SettingsError, describe_settings, load_settings
from service.sla_config import SlaConfigError


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
        sample.publish(events, settings.kafka_bootstrap)
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


def _publish_sample(settings: Settings, args: argparse.Namespace) -> None:
    from generators import sample
    from service.topics import ensure_topics

    ensure_topics(settings)
    events = sample.sample_events(
        args.customers, topic_of=settings.topic_for, poison=args.poison, seed=args.seed
    )
    started = time.perf_counter()
    count = sample.publish(events, settings.kafka_bootstrap)
    elapsed = time.perf_counter() - started
    print(f"published {count} events for {args.customers} customers "
          f"in {elapsed:.1f} s ({count / elapsed:,.0f} events/s)")


def _load(settings: Settings, args: argparse.Namespace) -> None:
    """Publish a Zipf-skewed stream of mixed CRM events, at a fixed rate or flat out."""
    from generators import loadgen
    from service.topics import ensure_topics

    ensure_topics(settings)
    seed = args.seed if args.seed is not None else loadgen.fresh_seed()
    stream = loadgen.messages(args.events, customers=args.customers, zipf=args.zipf,
                              duplicates=args.duplicates, seed=seed,
                              topic_of=settings.topic_for)
    result = loadgen.publish(stream, settings.kafka_bootstrap, total=args.events,
                             rate=args.rate, progress=True)
    print(f"published {result.count} events (seed {seed}) for up to {args.customers} customers "
          f"in {result.seconds:.1f} s ({result.rate:,.0f} events/s"
          f"{f', offered {args.rate:,.0f}' if args.rate else ''})")


def _replay(settings: Settings, args: argparse.Namespace) -> None:
    """Rebuild reports from the first event with a progress bar; --diff shows before swapping."""
    from tqdm import tqdm

    from projections import replay
    from service import bootstrap

    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    catalog = bootstrap.build_catalog(settings, history, views)
    names = list(catalog.names) if args.all else [args.name]
    unknown = [n for n in names if n not in catalog.names]
    if not names or unknown:
        raise SystemExit(f"crm-timeline replay: nothing to rebuild called {unknown or names}; "
                         f"known: {', '.join(catalog.names)}")
    # One pass over the store builds them all: each batch is read and decoded once.
    with tqdm(desc=f"replay {', '.join(names)}", unit="event", dynamic_ncols=True) as bar:
        def show(progress: replay.Progress) -> None:
            bar.total = progress.total
            bar.update(progress.done - bar.n)

        result = replay.replay(catalog, names, swap=not args.diff, batch_size=args.batch_size,
                               on_progress=show)
    for name in names:
        if args.diff:
            generation = catalog.generations(name)[1]
            changes = replay.diff(catalog, name)
            print(f"{name} generation {generation} against the live one: "
                  f"{len(changes.added)} rows added, {len(changes.removed)} removed, "
                  f"{len(changes.changed)} changed")
            if name == replay.CUSTOMER_360:
                tiers = replay.tier_changes(changes)
                print(f"customers whose loyalty tier changes: {len(tiers)}")
                for customer, before, after in tiers[:50]:
                    print(f"  {customer}: {before} -> {after}")
            else:
                for old, new in changes.changed[:20]:
                    print(f"  - {old}\n  + {new}")
            print("Run without --diff to swap it in.")
        else:
            print(f"{name}: generation {catalog.generations(name)[0]} is live "
                  f"({result.done} events folded)")


def _keys(settings: Settings, args: argparse.Namespace) -> None:
    """Create, list and revoke API keys."""
    from access.keys import KeyRing
    from service import bootstrap

    history = bootstrap.build_history(settings)
    keys = KeyRing(bootstrap.build_views(settings, history))
    if args.action == "create":
        allow = [name.strip() for names in args.allow or [] for name in names.split(",")
                 if name.strip()]
        try:
            key = keys.create(args.name, args.role, allow)
        except ValueError as error:
            raise SystemExit(f"crm-timeline keys: {error}") from None
        granted = f"; may publish {', '.join(sorted(set(allow)))}" if allow else ""
        print(f"{key}\n(shown once: store it now; role {args.role}, name {args.name}{granted})")
    elif args.action == "revoke":
        if not keys.revoke(args.key_id):
            raise SystemExit(f"crm-timeline keys: no key {args.key_id!r}")
        print(f"key {args.key_id} revoked")
    else:
        for row in keys.list():
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
            allowed = f"  allow {row['permissions']}" if row["permissions"] else ""
            print(f"{row['key_id']}  {row['role']:6}  {row['name']:24}  {row['created_at']}  "
                  f"{state}{allowed}")


def _deadletter(settings: Settings, args: argparse.Namespace) -> None:
    """List, inspect and re-drive the dead-letter topic's messages."""
    import json
    from typing import NoReturn

    from kafka.errors import KafkaError

    from consumers.redrive import parse_name, read_dead_letters, redrive

    def refuse(message: str) -> NoReturn:
        """A usage error: exit 2 like argparse, so scripts can tell it from a Kafka failure."""
        print(f"crm-timeline deadletter: {message}", file=sys.stderr)
        raise SystemExit(2)

    topic = settings.topic_deadletter
    names = getattr(args, "names", None) or []
    if args.action == "redrive" and not (names or args.reason or args.all):
        refuse("redrive: name letters (PARTITION:OFFSET), or choose them with --reason TEXT, "
               "or --all")
    try:
        # Chosen by reason or --all, a letter re-driven and rejected again is left to its copy.
        letters = read_dead_letters(settings.kafka_bootstrap, topic,
                                    reason=getattr(args, "reason", None), names=names,
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
                  f"{key:24}  {letter.reason[:100]}")
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
              f"  key           {letter.key!r}")
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
            count = redrive(settings.kafka_bootstrap, topic, letters)
        except KafkaError as error:
            raise SystemExit(f"crm-timeline deadletter: re-driving to Kafka at "
                             f"{settings.kafka_bootstrap} failed ({error}); re-driving again "
                             "is safe") from None
        print(f"re-drove {count} dead letters to their topics; the consumer stores each event "
              f"id once, and dead-letters again what is still wrong")


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


def _set_aside(settings: Settings, args: argparse.Namespace) -> None:
    """List, acknowledge and retry the facts read models set aside."""
    from projections.set_aside import SetAsideBook
    from service import bootstrap

    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    book = SetAsideBook(views)
    views.create_tables(book.create_statements())
    if args.action == "list":
        with views.read() as db:
            rows = book.listing(db, read_model=args.read_model, acknowledged=args.all)
        for row in rows:
            state = "acknowledged" if row["acknowledged_at"] else "new"
            print(f"{row['read_model']:32} position {row['position']:>10}  "
                  f"{row['set_aside_at']:%Y-%m-%d %H:%M:%S}  {state:12}  {row['event_type']:28} "
                  f"{row['event_id']}  customer {row['customer_id']}\n    {row['error']}")
        print((f"{len(rows)} facts set aside" if rows else "no facts set aside")
              + ("" if args.all else " (not acknowledged; --all shows every one)"))
    elif args.action == "ack":
        with views.write() as db:
            count = book.acknowledge(db, args.read_model)
        print(f"acknowledged {count} set-aside facts; /readyz no longer counts them")
    else:
        with views.write() as db:
            count = book.request_retry(db, args.read_model)
        if not count:
            print("no facts set aside")
            return
        print(f"asked the projectors to apply {count} set-aside facts again; waiting "
              f"(at most {args.wait:g} s)...")
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            with views.read() as db:
                waiting = [r for r in book.listing(db, read_model=args.read_model)
                           if r["retry_requested_at"] is not None]
            if not waiting:
                break
            time.sleep(0.5)
        with views.read() as db:
            rows = book.listing(db, read_model=args.read_model)
        still = [r for r in rows if r["retry_requested_at"] is None]
        pending = len(rows) - len(still)
        print(f"{count - len(rows)} applied, {len(still)} still failing"
              + (f", {pending} not picked up: is `crm-timeline project` running for their "
                 "read models (CRM_PROJECTIONS)?" if pending else ""))
        for row in still:
            print(f"  {row['read_model']} position {row['position']}: {row['error']}")
        if still or pending:
            raise SystemExit(1)


def _config(_: Settings, __: argparse.Namespace) -> None:
    for name, default, description in describe_settings():
        print(f"{name:32} {default:40} {description}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-timeline",
        description="Event-sourced customer timeline: Kafka in, event store, read models, API. "
        "Configured by CRM_* environment variables (see `crm-timeline config`).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    publish = commands.add_parser("publish-sample", help="publish realistic sample events")
    publish.add_argument("--customers", type=int, default=300)
    publish.add_argument("--poison", type=int, default=3, help="malformed messages mixed in")
    publish.add_argument("--seed", type=int, default=7)
    publish.set_defaults(run=_publish_sample)

    load = commands.add_parser(
        "load", help="publish a realistic load: mixed events, customers' activity Zipf-skewed"
    )
    load.add_argument("--events", type=int, default=100_000, help="messages (default 100000)")
    load.add_argument("--customers", type=int, default=10_000, help="default 10000")
    load.add_argument("--zipf", type=float, default=1.1,
                      help="skew of activity: customer of rank r gets 1/r**zipf (default 1.1)")
    load.add_argument("--rate", type=float, default=0,
                      help="events per second (default 0: as fast as possible)")
    load.add_argument("--duplicates", type=float, default=0.0,
                      help="share of messages sent twice, e.g. 0.01 (default 0)")
    load.add_argument("--seed", type=int, help="default: a fresh one (new event ids)")
    load.set_defaults(run=_load)

    rebuild = commands.add_parser(
        "replay", help="rebuild a report or the customer 360 from the first event into fresh "
        "tables, then swap it in"
    )
    rebuild.add_argument("name", nargs="?", help="customer360 or a report name (GET /reports)")
    rebuild.add_argument("--all", action="store_true", help="rebuild everything rebuildable")
    rebuild.add_argument("--diff", action="store_true",
                         help="build (or resume) and show the changes against the live version, "
                         "without swapping")
    rebuild.add_argument("--batch-size", type=int, default=2000,
                         help="stored events folded per transaction (default 2000)")
    rebuild.set_defaults(run=_replay)

    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument("--role", required=True, choices=["agent", "ingest", "admin"])
    create.add_argument(
        "--allow", action="append", metavar="TYPES",
        help="privileged event types an ingest key may publish, separated by commas: "
        "crm.account.merged, crm.account.unmerged, crm.account.erasure_requested "
        "(none by default)")
    key_actions.add_parser("list", help="list keys (never their secrets)")
    revoke = key_actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    keys.set_defaults(run=_keys)

    deadletter = commands.add_parser(
        "deadletter", help="list, inspect and re-drive messages on the dead-letter topic")
    letter_actions = deadletter.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = letter_actions.add_parser("list", help="one line per dead letter, oldest first")
    listing.add_argument("--reason", help="only those whose reason contains this text")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N")
    inspect = letter_actions.add_parser("inspect", help="one dead letter whole")
    inspect.add_argument("names", nargs=1, metavar="PARTITION:OFFSET")
    again = letter_actions.add_parser(
        "redrive", help="publish dead letters again to their topics, as they came (after a fix)")
    again.add_argument("names", nargs="*", metavar="PARTITION:OFFSET")
    again.add_argument("--reason", help="those whose reason contains this text")
    again.add_argument("--all", action="store_true", help="every dead letter")
    again.add_argument("--dry-run", action="store_true", help="say what would be re-driven")
    deadletter.set_defaults(run=_deadletter)

    projections = commands.add_parser(
        "projections", help="facts the read models set aside: list, acknowledge, retry")
    projection_actions = projections.add_subparsers(dest="topic", required=True, metavar="WHAT")
    set_aside = projection_actions.add_parser(
        "set-aside", help="facts a read model could not apply and went on without")
    set_aside_actions = set_aside.add_subparsers(dest="action", required=True, metavar="ACTION")
    listed = set_aside_actions.add_parser("list", help="the facts set aside, oldest first")
    listed.add_argument("--all", action="store_true", help="acknowledged ones too")
    acknowledged = set_aside_actions.add_parser(
        "ack", help="acknowledge them: /readyz stops counting them (they stay retryable)")
    retried = set_aside_actions.add_parser(
        "retry", help="after a fix: have the projectors apply them again, and wait for it")
    retried.add_argument("--wait", type=float, default=60, help="seconds to wait (default 60)")
    for action in (listed, acknowledged, retried):
        action.add_argument("--read-model", help="only this read model's (its tracking name)")
    set_aside.set_defaults(run=_set_aside)

    status = commands.add_parser(
        "status", help="consumer lag, projection lag, dead letters and alert outbox, one screen")
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(run=_status)

    commands.add_parser("config", help="list every setting with its default").set_defaults(
        run=_config
    )
    return parser


def _runtime():  # noqa: ANN202 - imported late: `config` and `--help` stay instant
    from service import runtime

    return runtime


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


if __name__ == "__main__":
    sys.exit(main())
