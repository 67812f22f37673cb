"""Timeline reads: latency of GET /customers/{id}/timeline under a fixed offered rate.

    python bench/timeline_reads.py         # 200 requests/s for 30 s
    python bench/timeline_reads.py --smoke # 50 requests/s for 5 s, small store

Fills a fresh schema with one busy customer (10,000 events) and 2,000 others
(10 events each) through ``record``, projects the timeline and the 360 in this
process, creates an agent API key and serves the API (``crm-timeline api`` on a
free port); a separate load process then offers a fixed rate, open loop
(``bench/open_loop.py``), of ``GET /customers/{id}/timeline?limit=50``: half for
the busy customer at random depths (cursors from earlier pages), half for the
first page of a random other customer.

Reference: the same query (``TimelineProjection.page``, the SQL
and row decoding the endpoint runs) directly against the database from this
process, one at a time, with the same mix of customers and pages.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import Any

import harness
import open_loop
from open_loop import BIG

from projections.catalog import TIMELINE


@dataclass(frozen=True)
class TimelinePlan:
    others: list[str]

    def __call__(self, n: int, rng: random.Random, cursors: list[str]
                 ) -> tuple[str, dict[str, Any], bool]:
        if n % 2 == 0:
            cursor = rng.choice(cursors) if cursors and rng.random() < 0.9 else None
            return f"/customers/{BIG}/timeline", {"limit": 50, **({"cursor": cursor} if cursor else {})}, True
        return f"/customers/{rng.choice(self.others)}/timeline", {"limit": 50}, False


def reference(timeline: Any, others: list[str], count: int, seed: int) -> list[float]:
    """Latencies of the endpoint's query run directly, one after another, same mix."""
    rng = random.Random(seed)
    cursors: list[str] = []
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        if n % 2 == 0:
            cursor = rng.choice(cursors) if cursors and rng.random() < 0.9 else None
            page = timeline.page([BIG], limit=50, cursor=cursor)
            if page.next_cursor:
                cursors.append(page.next_cursor)
        else:
            timeline.page([rng.choice(others)], limit=50)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> int:
    args = open_loop.parse_arguments(__doc__.splitlines()[0])

    with harness.Run(keep=args.keep) as run:
        served = open_loop.populate_and_serve(run, args)
        open_loop.warm(served, "/customers/{customer}/timeline", {"limit": 50})
        outcome = open_loop.run_load(served, TimelinePlan(served.others), args)
        direct = reference(served.catalog.live(TIMELINE), served.others,
                           min(2000, int(args.rate * args.seconds)), args.seed)

    harness.print_table(
        f"timeline reads: {served.total:,} stored events ({args.big_events:,} for {BIG}, "
        f"{args.others:,} others), {args.rate:,.0f} requests/s offered for {args.seconds:.0f} s",
        open_loop.latency_rows("timeline reads", outcome, direct, "the same query run directly",
                               args.rate),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
