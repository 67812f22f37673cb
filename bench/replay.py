"""Replay: the four built-in reports rebuilt from a filled store, against reading it.

    python bench/replay.py                 # 1,000,000 events, 10,000 customers, Zipf 1.1
    python bench/replay.py --smoke         # a few thousand, for CI
    python bench/replay.py --reuse bench_1a2b3c4d   # a schema kept with --keep: no filling

Fills a fresh schema with the load (``generators.loadgen``) through the customer
history's own ``record`` (no Kafka), in chunks with a progress bar. Then:

* reference: reading the same events as the reports do (``history.facts_of``
  with ``personal_data=False``, batches of ``--batch-size``), no report work;
* the reports: rebuilt together from the first event into fresh generations
  in one pass over the store and swapped in, as ``crm-timeline replay --all``
  does (``projections.replay.replay``); seconds for all four.
"""

from __future__ import annotations

import argparse
import sys
import time

import harness

from generators import loadgen
from projections import replay
from service import bootstrap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="stored events (1000000; smoke 5000)")
    parser.add_argument("--batch-size", type=int, default=2000,
                        help="events folded per transaction, as `crm-timeline replay` (2000)")
    parser.add_argument("--reuse", metavar="SCHEMA", help="an already filled schema (kept)")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, events=(1_000_000, 5_000), customers=(10_000, 500))

    with harness.Run(kafka=False, keep=args.keep, schema=args.reuse) as run:
        history = run.history()
        if not args.reuse:
            harness.fill(history, loadgen.reported_facts(args.events, customers=args.customers,
                                                         zipf=args.zipf, seed=args.seed),
                         total=args.events, progress=not args.smoke)
        total = history.recorder.max_notification_id() or 0

        read, reference = harness.read_store(history, args.batch_size, personal_data=False)

        views = bootstrap.build_views(run.settings, history)
        catalog = bootstrap.build_catalog(run.settings, history, views)
        started = time.perf_counter()  # one pass for all four, as `crm-timeline replay --all`
        replay.replay(catalog, list(catalog.reports), batch_size=args.batch_size)
        overall = time.perf_counter() - started

    rows = [
        harness.Row(f"replay: the {len(catalog.reports)} reports rebuilt in one pass",
                    f"{overall:,.1f} s ({total / overall:,.0f} ev/s)",
                    f"{reference:,.1f} s ({read / reference:,.0f} ev/s) reading the events once "
                    "(facts_of, personal_data=False)",
                    harness.ratio(overall, reference), "<= 20 s", overall <= 20),
    ]
    harness.print_table(f"replay: {total:,} stored events, {args.customers:,} customers, "
                        f"Zipf {args.zipf}", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
