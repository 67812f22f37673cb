"""Customer 360 reads: latency of GET /customers/{id} under a fixed offered rate.

    python bench/customer_reads.py         # 200 requests/s for 30 s
    python bench/customer_reads.py --smoke # 50 requests/s for 5 s, small store

The same store as ``timeline_reads.py`` (one busy customer of 10,000 events and
2,000 others of 10, every read model projected), a churn model fitted on it
(``crm-timeline models fit churn``), the API on a free port, and an open-loop load
(``bench/open_loop.py``) of ``GET /customers/{id}``: half for the busy customer,
half for a random other. Each answer is the 360 folded as of now with its churn
figures and anomaly flags.

Reference: the endpoint's own function (``api.customers.customer_360``) called
directly in this process, one request at a time, with the same mix.
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

from api.customers import customer_360
from api.deps import ReadSide
from predictions.churn import NotEnoughHistory
from predictions.fitting import fit_churn
from predictions.model_book import ModelBook


@dataclass(frozen=True)
class CustomerPlan:
    others: list[str]

    def __call__(self, n: int, rng: random.Random, cursors: list[str]
                 ) -> tuple[str, dict[str, Any], bool]:
        return f"/customers/{BIG if n % 2 == 0 else rng.choice(self.others)}", {}, False


def reference(side: ReadSide, others: list[str], count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        customer_360(BIG if n % 2 == 0 else rng.choice(others), side=side)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> int:
    args = open_loop.parse_arguments(__doc__.splitlines()[0])

    with harness.Run(keep=args.keep) as run:
        served = open_loop.populate_and_serve(run, args)
        book = ModelBook(served.views)
        try:
            model = f"churn model v{fit_churn(served.history, book).version}"
        except NotEnoughHistory as error:
            model = f"no churn model ({error})"
        open_loop.warm(served, "/customers/{customer}")
        outcome = open_loop.run_load(served, CustomerPlan(served.others), args)
        side = ReadSide(served.history, served.catalog, 50, book)
        direct = reference(side, served.others, min(1000, int(args.rate * args.seconds)), args.seed)

    harness.print_table(
        f"customer 360 reads: {served.total:,} stored events ({args.big_events:,} for {BIG}, "
        f"{args.others:,} others; {model}), {args.rate:,.0f} requests/s offered for "
        f"{args.seconds:.0f} s",
        open_loop.latency_rows("360 reads", outcome, direct, "the endpoint's function called directly",
                               args.rate),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
