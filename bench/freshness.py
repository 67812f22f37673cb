"""Freshness: from an event published to Kafka to its entry in GET /customers/{id}/timeline.

    python bench/freshness.py              # 5,000 events/s for 30 s
    python bench/freshness.py --smoke      # 500 events/s for 5 s

Runs the service as deployed, one process each (``crm-timeline consume``,
``project`` and ``api``; fresh schema, topics and consumer group), with the
timeline projected by a process of its own and the other read models by a
second one at lower CPU priority (``--projectors``, ``--nice``), then
publishes the load (``generators.loadgen``, Zipf over 10,000 customers) at a
steady rate from this process. Every ``--marker-every``-th event is a marker:
a ``crm.contact.logged`` for a customer of its own, its event id known. A
separate poller process asks ``GET /customers/{id}/timeline`` for each marker
(round-robin, one request at a time) until the marker's event id is listed;
delay = response received - sent to the producer (wall clock, one machine).

Reference: in the same poller process, a bare kafka-python ``KafkaConsumer``
on the contacts topic notes when each marker arrives: what Kafka alone takes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import harness
import httpx

from access.keys import KeyRing
from generators import loadgen
from service import bootstrap


def poll(base_url: str, key: str, bootstrap_servers: str, topic: str, markers: Any,
         out: Any, linger: float) -> None:
    """The poller process: watch each marker until the timeline lists it (and Kafka has it)."""
    from kafka import KafkaConsumer, TopicPartition

    kafka_seen: dict[str, float] = {}
    stop = threading.Event()

    def watch_kafka() -> None:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                 enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_end()
        for partition in partitions:  # resolve the end offsets before anything is published
            consumer.position(partition)
        out.put("kafka-ready")
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for record in records:
                    if record.key and record.key.startswith(b"M-"):
                        kafka_seen[record.key.decode()] = now
        consumer.close()

    watcher = threading.Thread(target=watch_kafka, daemon=True)
    watcher.start()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                          timeout=10)
    pending: dict[str, tuple[str, float]] = {}  # customer -> (event id, published)
    delays: list[float] = []
    published: dict[str, float] = {}
    errors: list[str] = []
    requests = rounds = 0
    round_time = 0.0
    finished_at: float | None = None
    while True:
        try:
            while True:
                marker = markers.get_nowait()
                if marker is None:
                    finished_at = time.monotonic()
                else:
                    customer, event_id, sent = marker
                    pending[customer] = (event_id, sent)
                    published[customer] = sent
        except queue.Empty:
            pass
        if finished_at is not None and (not pending or time.monotonic() - finished_at > linger):
            break
        if not pending:
            time.sleep(0.005)
            continue
        started = time.perf_counter()
        for customer, (event_id, sent) in list(pending.items()):
            requests += 1
            try:
                response = client.get(f"/customers/{customer}/timeline", params={"limit": 5})
            except httpx.HTTPError as error:
                errors.append(repr(error)[:200])
                continue
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
                continue
            if any(e["event_id"] == event_id for e in response.json()["entries"]):
                delays.append(time.time() - sent)
                del pending[customer]
        rounds += 1
        round_time += time.perf_counter() - started
        time.sleep(0.005)
    time.sleep(0.3)
    stop.set()
    watcher.join(timeout=5)
    kafka_delays = [kafka_seen[c] - sent for c, sent in published.items() if c in kafka_seen]
    client.close()
    gave_up = time.time()  # markers never seen count with the time waited: a lower bound
    unseen = [gave_up - sent for _, sent in pending.values()]
    out.put({"delays": delays, "kafka_delays": kafka_delays, "unseen": unseen,
             "errors": errors, "requests": requests,
             "round_ms": 1000 * round_time / rounds if rounds else 0.0})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, help="events/s published (5000; smoke 500)")
    parser.add_argument("--seconds", type=float, help="how long (30; smoke 5)")
    parser.add_argument("--marker-every", type=int,
                        help="every n-th event is a marker (500, i.e. 10 markers/s at 5000 "
                        "events/s; smoke 25)")
    harness.add_projector_arguments(parser, default="timeline;others")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--zipf", type=float, default=1.1)
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, rate=(5000.0, 500.0), seconds=(30.0, 5.0),
                           marker_every=(500, 25))

    with harness.Run(keep=args.keep) as run:
        settings = run.settings
        history = run.history()
        views = bootstrap.build_views(settings, history)
        key = KeyRing(views).create("bench", "agent")
        port = harness.free_port()
        services = [run.spawn("consume"), *run.spawn_projectors(args.projectors, args.nice),
                    run.spawn("api", CRM_API_PORT=str(port))]
        base_url = f"http://127.0.0.1:{port}"

        # The load, with markers: contacts of customers of their own, ids known.
        count = int(args.rate * args.seconds)
        events = loadgen.generate(count, customers=args.customers, zipf=args.zipf,
                                  seed=args.seed, topic_of=settings.topic_for)
        maker = loadgen.LoadGenerator(args.seed)
        markers: dict[str, str] = {}  # event id -> customer
        for n in range(args.marker_every - 1, count, args.marker_every):
            customer = f"M-{run.id}-{n}"
            event = maker.envelope(customer, "crm.contact.logged", datetime.now(UTC),
                                   maker.contact(), event_id=f"marker-{run.id}-{n}")
            events[n] = loadgen.message(event, settings.topic_for)
            markers[event["id"]] = customer

        # Everything up: a first marker visible end to end.
        warm = loadgen.message(maker.envelope(f"M-{run.id}-warm", "crm.contact.logged",
                                              datetime.now(UTC), maker.contact(),
                                              event_id=f"warm-{run.id}"), settings.topic_for)
        loadgen.publish([warm], settings.kafka_client())
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as api:
            def visible() -> bool:
                try:
                    response = api.get(f"/customers/{warm.key}/timeline")
                except httpx.HTTPError:
                    return False
                return response.status_code == 200 and bool(response.json()["entries"])

            harness.wait_until(visible, timeout=120, what="a first event to be visible",
                               services=services, interval=0.2)

        context = multiprocessing.get_context("spawn")
        marker_queue, results = context.Queue(), context.Queue()
        poller = context.Process(target=poll, args=(
            base_url, key, settings.kafka_bootstrap, settings.topic_contacts, marker_queue,
            results, 30.0 if args.smoke else 60.0))
        poller.start()
        if results.get(timeout=60) != "kafka-ready":
            raise RuntimeError("the poller did not start")

        def sent(event: loadgen.LoadEvent, at: float) -> None:
            if event.event_id in markers:
                marker_queue.put((event.key, event.event_id, at))

        published = loadgen.publish(events, settings.kafka_client(), rate=args.rate,
                                    on_sent=sent)
        marker_queue.put(None)
        outcome = results.get(timeout=300)
        poller.join()
        for service in services:
            service.check()

    seen, unseen, kafka = outcome["delays"], outcome["unseen"], outcome["kafka_delays"]
    delays = seen + unseen  # an unseen marker counts with the time waited for it
    bound = f" (lower bound: {len(unseen)} never seen)" if unseen else ""
    p50, p99 = harness.percentile(delays, 50), harness.percentile(delays, 99)
    k50, k99 = harness.percentile(kafka, 50), harness.percentile(kafka, 99)
    if outcome["errors"]:
        print(f"poller errors (first 5 of {len(outcome['errors'])}): {outcome['errors'][:5]}")
    everything_seen = not outcome["unseen"] and not outcome["errors"]
    harness.print_table(
        f"freshness: {published.count:,} events at {args.rate:,.0f} events/s offered, "
        f"{len(markers)} markers",
        [
            harness.Row("freshness: p99 published to visible in the timeline API", f"{p99:,.3f} s{bound}",
                        f"{k99:,.3f} s (Kafka alone: bare KafkaConsumer sees it)",
                        harness.ratio(p99, k99), "<= 1 s, every marker seen",
                        p99 <= 1 and everything_seen),
            harness.Row("freshness: p50", f"{p50:,.3f} s{bound}", f"{k50:,.3f} s (Kafka alone)",
                        harness.ratio(p50, k50)),
            harness.Row("freshness: max", f"{max(delays, default=float('nan')):,.3f} s{bound}",
                        f"{max(kafka, default=float('nan')):,.3f} s (Kafka alone)"),
            harness.Row("markers seen in the API", f"{len(seen)} of {len(markers)}",
                        f"poll round {outcome['round_ms']:.0f} ms, {outcome['requests']} requests, "
                        f"{len(outcome['errors'])} errors", target="all",
                        reached=everything_seen),
            harness.Row("achieved publish rate", f"{published.rate:,.0f} ev/s",
                        f"{args.rate:,.0f} ev/s offered", harness.ratio(published.rate, args.rate)),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
