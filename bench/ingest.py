"""Ingestion throughput: the service's consumer storing a published load, against two references.

    python bench/ingest.py                 # 300,000 events, 10,000 customers, Zipf 1.1
    python bench/ingest.py --smoke         # a few thousand, for CI
    python bench/ingest.py --consumers 2   # two consumer processes in one group

Publishes the load (``generators.loadgen``, 1 % exact duplicates) to fresh topics
first, then times:

* the service: ``crm-timeline consume`` (PostgreSQL store, fresh schema and
  consumer group; ``--consumers N`` processes in that group) from its start to
  the last event stored, and checks exactly
  once: every message's offset recorded and as many events stored as distinct
  event ids published; its peak RSS (VmHWM);
* reference A: a bare confluent-kafka (librdkafka) ``Consumer`` reading the same
  topics from the beginning and doing nothing, to the last message; beside it,
  for continuity with earlier figures, a bare kafka-python ``KafkaConsumer``;
* reference B: psycopg ``COPY`` of the same distinct events (id, customer,
  type, time, data as json) into a plain table, in one transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import harness
from confluent_kafka import Consumer
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from consumers.intake import kafka_source
from generators import loadgen
from history.customer_history import CustomerHistory
from service.settings import Settings


def bare_librdkafka(settings: Settings, count: int) -> float:
    """Seconds for a plain confluent-kafka Consumer to receive ``count`` messages from the
    start (a group of its own: librdkafka assigns partitions through a group)."""
    started = time.perf_counter()
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"bench-reference-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(settings.ingestion_topics))
    received = 0
    try:
        while received < count:
            received += sum(1 for m in consumer.consume(10_000, timeout=0.5) if not m.error())
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"reference A received {received} of {count} messages")
    finally:
        consumer.close()
    return time.perf_counter() - started


def bare_kafka_python(settings: Settings, count: int) -> float:
    """Seconds for a plain kafka-python KafkaConsumer to receive ``count`` messages."""
    started = time.perf_counter()
    consumer = KafkaConsumer(*settings.ingestion_topics, bootstrap_servers=settings.kafka_bootstrap,
                             group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    received = 0
    try:
        while received < count:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                received += len(records)
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"reference A received {received} of {count} messages")
    finally:
        consumer.close()
    return time.perf_counter() - started


def copy_reference(history: CustomerHistory, messages: list[loadgen.LoadEvent]) -> float:
    """Seconds to COPY the distinct events into a plain table in the run's schema."""
    rows, seen = [], set()
    for message in messages:
        if message.event_id not in seen:
            seen.add(message.event_id)
            e = json.loads(message.value)
            rows.append((e["id"], e["subject"], e["type"], e["time"],
                         json.dumps(e["data"], separators=(",", ":"))))
    datastore = history.recorder.datastore
    table = sql.Identifier(datastore.schema, "copy_reference")
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(sql.SQL("CREATE TABLE {} (id text, customer text, type text, "
                               "time timestamptz, data json)").format(table))
    started = time.perf_counter()
    with datastore.transaction(commit=True) as cursor:
        with cursor.copy(sql.SQL("COPY {} (id, customer, type, time, data) FROM STDIN")
                         .format(table)) as copy:
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - started


def partition_ends(settings: Settings) -> dict[str, int]:
    """The last offset of every non-empty partition of the ingestion topics, by source name."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for topic in settings.ingestion_topics
                      for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    return {kafka_source(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="messages published (300000; smoke 3000)")
    parser.add_argument("--duplicates", type=float, default=0.01,
                        help="share of messages sent twice (default 0.01)")
    parser.add_argument("--consumers", type=int, default=1,
                        help="consumer processes in the group (default 1)")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, events=(300_000, 3_000), customers=(10_000, 500))

    with harness.Run(keep=args.keep) as run:
        settings = run.settings
        messages = loadgen.generate(args.events, customers=args.customers, zipf=args.zipf,
                                    duplicates=args.duplicates, seed=args.seed,
                                    topic_of=settings.topic_for)
        distinct = len({m.event_id for m in messages})
        published = loadgen.publish(messages, settings.kafka_client(), progress=not args.smoke)
        print(f"published {published.count:,} messages ({distinct:,} distinct events) in "
              f"{published.seconds:.1f} s ({published.rate:,.0f} events/s)", flush=True)
        ends = partition_ends(settings)
        history = run.history()

        # (a) the service's consumer, from its start to the last event stored
        consumers = [run.spawn("consume") for _ in range(args.consumers)]
        started = min(c.started for c in consumers)
        first_stored: list[float] = []

        def all_stored() -> bool:
            stored = history.recorder.max_notification_id() or 0
            if stored and not first_stored:
                first_stored.append(time.perf_counter())
            return stored >= distinct

        harness.wait_until(all_stored, timeout=1800, what="the consumer to store every event",
                           services=consumers, interval=0.02)
        finished = time.perf_counter()
        elapsed = finished - started
        steady = finished - first_stored[0]
        # Exactly once: every message's offset recorded, every distinct event stored once.
        harness.wait_until(
            lambda: all(history.recorder.positions(list(ends)).get(s, -1) >= end
                        for s, end in ends.items()),
            timeout=120, what="every offset to be recorded", services=consumers)
        rss = max(c.peak_rss_mb() for c in consumers)
        for consumer in consumers:
            consumer.stop()
        stored = harness.stored_count(history)

        # (b) reference A and (c) reference B
        seconds_a = bare_librdkafka(settings, len(messages))
        seconds_a_python = bare_kafka_python(settings, len(messages))
        seconds_b = copy_reference(history, messages)

    ingest_rate = distinct / elapsed
    rate_a = len(messages) / seconds_a
    rate_a_python = len(messages) / seconds_a_python
    rate_b = distinct / seconds_b
    exactly_once = stored == distinct
    harness.print_table(
        f"ingest: {len(messages):,} messages, {distinct:,} distinct events, "
        f"{args.customers:,} customers, Zipf {args.zipf}, {args.consumers} consumer(s), "
        f"{os.cpu_count()} cores",
        [
            harness.Row(f"ingest: crm-timeline consume ({args.consumers} in the group), start "
                        "to last event stored",
                        f"{ingest_rate:,.0f} ev/s",
                        f"A: {rate_a:,.0f} ev/s (bare confluent-kafka Consumer)",
                        harness.ratio(ingest_rate, rate_a),
                        ">= 50,000 ev/s and >= 0.2 x A",
                        ingest_rate >= 50_000 and ingest_rate >= 0.2 * rate_a),
            harness.Row("ingest against kafka-python (earlier reference A)",
                        f"{ingest_rate:,.0f} ev/s",
                        f"{rate_a_python:,.0f} ev/s (bare kafka-python KafkaConsumer)",
                        harness.ratio(ingest_rate, rate_a_python)),
            harness.Row("ingest against COPY",
                        f"{ingest_rate:,.0f} ev/s",
                        f"B: {rate_b:,.0f} ev/s (psycopg COPY, plain table)",
                        harness.ratio(ingest_rate, rate_b)),
            harness.Row("ingest after start-up (first to last event stored)",
                        f"{distinct / steady:,.0f} ev/s", f"start-up {elapsed - steady:.1f} s"),
            harness.Row("exactly once: events stored", f"{stored:,}",
                        f"{distinct:,} distinct event ids published",
                        harness.ratio(stored, distinct), "= distinct", exactly_once),
            harness.Row("consumer peak RSS (VmHWM, the largest)", f"{rss:,.0f} MB", target="<= 300 MB",
                        reached=rss <= 300),
        ],
    )
    if not exactly_once:
        print(f"EXACTLY ONCE VIOLATED: {stored} events stored for {distinct} distinct ids",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
