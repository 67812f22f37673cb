"""Anomaly flags against planted anomalies: found, missed and false alarms, per pattern.

    python bench/anomalies.py            # 100,000 events, 2,000 customers, 50 plants each
    python bench/anomalies.py --smoke    # a small one, for CI

Records the load generator's ordinary load into a fresh schema (``history.record``,
no Kafka), then plants anomalies on customers with at least six orders, each after
the customer's own last event: an order 25 times the customer's median
(``amount_outlier``), three orders within four minutes (``order_burst``), refunds on
the last 60 % of the customer's orders (``refund_heavy``), and an e-mail change
followed by an order half an hour later (``contact_change_then_order``). The anomaly
read model then follows the whole store (``crm-timeline project`` would do the same,
in its loop); every flag is matched to the plant it should find.

* **found**: plants with the flag of their pattern on their customer (for the order
  patterns: raised by the planted order itself);
* **missed**: plants without;
* **false alarms**: flags on the ordinary load, matching no plant (the load has no
  anomalies of its own by design, though nothing stops it making one);
* the cost: the read model's catch-up alone, events/s, beside reading and decoding.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import harness

from generators import loadgen
from projections.catalog import ANOMALIES
from projections.runner import Projector
from service import bootstrap

PATTERNS = ("amount_outlier", "order_burst", "refund_heavy", "contact_change_then_order")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="ordinary events (100000; smoke 10000)")
    harness.add_run_arguments(parser)
    parser.add_argument("--plants", type=int, help="plants of each pattern (50; smoke 10)")
    args = parser.parse_args()
    harness.apply_defaults(args, events=(100_000, 10_000), customers=(2_000, 300),
                           plants=(50, 10))
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    events = list(loadgen.cloud_events(args.events, customers=args.customers, zipf=args.zipf,
                                       seed=args.seed, now=now))
    planted, extra = plant(events, args.plants, random.Random(args.seed))

    with harness.Run(keep=args.keep, kafka=False) as run:
        history = run.history()
        harness.fill(history, (loadgen.as_fact(e) for e in events + extra),
                     total=len(events) + len(extra), progress=not args.smoke)
        read, reference = harness.read_store(history, 2000)
        views = bootstrap.build_views(run.settings, history)
        catalog = bootstrap.build_catalog(run.settings, history, views)
        model = catalog.live(ANOMALIES)
        started = time.perf_counter()
        total = Projector(history, views, [model], batch_size=2000).catch_up()
        elapsed = time.perf_counter() - started
        with views.read() as db:
            flags = [(row["customer_id"], row["details"]["reason"], row["details"]["event_id"])
                     for row in catalog.alert_book.listing(db, kind="anomaly", limit=10 ** 7)]

    found: Counter[str] = Counter()
    matched = set()
    for customer, pattern, event_id in planted:
        hit = [f for f in flags if f[0] == customer and f[1] == pattern
               and (pattern == "refund_heavy" or f[2] == event_id)]
        if hit:
            found[pattern] += 1
            matched.update(hit)
    false = Counter(f[1] for f in flags if f not in matched)
    rows = [harness.Row(f"anomalies: {p}", f"{found[p]} of {args.plants} found, missed "
                        f"{args.plants - found[p]}, false alarms {false[p]}",
                        target="all found", reached=found[p] == args.plants)
            for p in PATTERNS]
    rows.append(harness.Row("anomalies: the read model alone, catching up",
                            harness.rate(total, elapsed),
                            f"{read / reference:,.0f} ev/s (read + decode, no projection)",
                            harness.ratio(total / elapsed, read / reference)))
    harness.print_table(f"anomalies: {len(events):,} ordinary events, {args.customers:,} customers, "
                        f"{args.plants} plants of each pattern", rows)
    return 0


def plant(events: list[dict], plants: int, rng: random.Random) -> tuple[list[tuple], list[dict]]:
    """(customer, pattern, planted event id) for each plant, and the planted events."""
    orders: dict[str, list[dict]] = {}
    last: dict[str, datetime] = {}
    for e in events:
        last[e["subject"]] = datetime.fromisoformat(e["time"])
        if e["type"] == "crm.order.placed":
            orders.setdefault(e["subject"], []).append(e)
    eligible = sorted(c for c, o in orders.items() if len(o) >= 6)
    chosen = rng.sample(eligible, min(len(eligible), plants * len(PATTERNS)))
    generator, planted, extra = loadgen.LoadGenerator(seed=991), [], []
    numbers = itertools.count(1)
    for n, customer in enumerate(chosen):
        pattern, mine = PATTERNS[n % len(PATTERNS)], orders[customer]
        at = last[customer] + timedelta(hours=1)
        currency = mine[-1]["data"]["currency"]

        def order(when: datetime, amount: Decimal, *, customer: str = customer,
                  currency: str = currency) -> dict:
            data = {"order_id": f"P-{customer}-{next(numbers)}", "amount": f"{amount:.2f}",
                    "currency": currency, "items": [], "channel": "web"}
            return generator.envelope(customer, "crm.order.placed", when, data)

        if pattern == "amount_outlier":
            median = statistics.median(Decimal(o["data"]["amount"]) for o in mine
                                       if o["data"]["currency"] == currency)
            extra.append(order(at, median * 25))
        elif pattern == "order_burst":
            extra += [order(at + timedelta(minutes=2 * k), Decimal("20")) for k in range(3)]
        elif pattern == "refund_heavy":  # the last ceil(60 %) of its orders
            extra += [generator.envelope(customer, "crm.order.refunded", at + timedelta(minutes=k),
                                         {"order_id": o["data"]["order_id"], "amount": "1.00",
                                          "currency": o["data"]["currency"]})
                      for k, o in enumerate(mine[-math.ceil(0.6 * len(mine)):])]
        else:
            extra.append(generator.envelope(customer, "crm.account.updated", at,
                                            {"changes": {"email": f"{customer}@example.net"}}))
            extra.append(order(at + timedelta(minutes=30), Decimal("20")))
        planted.append((customer, pattern, extra[-1]["id"]))
    return planted, extra


if __name__ == "__main__":
    sys.exit(main())
