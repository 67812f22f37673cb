"""Publishing events as upstream systems would: the demo sample and a realistic load."""

from __future__ import annotations

import argparse
import time
from typing import Any

from service.settings import Settings


def _publish_sample(settings: Settings, args: argparse.Namespace) -> None:
    from generators import sample
    from service.topics import ensure_topics

    ensure_topics(settings)
    events = sample.sample_events(
        args.customers, topic_of=settings.topic_for, poison=args.poison, seed=args.seed
    )
    started = time.perf_counter()
    count = sample.publish(events, settings.kafka_client())
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
    result = loadgen.publish(stream, settings.kafka_client(), total=args.events,
                             rate=args.rate, progress=True)
    print(f"published {result.count} events (seed {seed}) for up to {args.customers} customers "
          f"in {result.seconds:.1f} s ({result.rate:,.0f} events/s"
          f"{f', offered {args.rate:,.0f}' if args.rate else ''})")


def register(commands: Any) -> None:
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
