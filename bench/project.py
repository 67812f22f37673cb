"""Projection catch-up: every built-in read model following a filled store from zero.

    python bench/project.py                # 300,000 events, 10,000 customers, Zipf 1.1
    python bench/project.py --smoke        # a few thousand, for CI
    python bench/project.py --shards 1,2   # one projector, then two shards, side by side

Fills a fresh schema with the load (``generators.loadgen``) through the customer
history's own ``record`` (no Kafka), in chunks. Then:

* reference: reading and decoding the same events (``history.facts_of``, batches
  of ``CRM_PROJECTION_BATCH_SIZE``), no projection work;
* the service: ``crm-timeline project`` (the projection loop exactly as deployed, one
  process by default, or as ``--projectors`` splits the read models:
  SLA clock, alert relay, every live generation), timed from its start until the
  tracked position of every read model (timeline, customer360, complaint_sla and
  each report's live generation) reaches the store's last notification id; and
  its peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import harness

from generators import loadgen
from service import bootstrap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="stored events (300000; smoke 3000)")
    harness.add_run_arguments(parser)
    harness.add_projector_arguments(parser, default="all")
    parser.add_argument("--shards", default="1",
                        help="projector shard counts to measure, one fresh store each, "
                        "separated by commas (e.g. 1,2: one projector, then two shards; "
                        "each shard runs the --projectors processes)")
    args = parser.parse_args()
    harness.apply_defaults(args, events=(300_000, 3_000), customers=(10_000, 500))

    rows, read_names = [], 0
    for shards in (int(n) for n in args.shards.split(",")):
        last, elapsed, rss, read, reference, read_names = catch_up(args, shards)
        figure, reference_rate = last / elapsed, read / reference
        split = f"{shards} shards" if shards > 1 else "one projector"
        rows += [
            harness.Row(f"project ({split}): crm-timeline project, start to every read model "
                        "caught up", f"{figure:,.0f} ev/s",
                        f"{reference_rate:,.0f} ev/s (read + decode with facts_of, no projection)",
                        harness.ratio(figure, reference_rate), ">= 25,000 ev/s", figure >= 25_000),
            harness.Row(f"projector peak RSS ({split}, VmHWM)", f"{rss:,.0f} MB",
                        target="<= 300 MB", reached=rss <= 300),
        ]
    harness.print_table(
        f"project: {last:,} stored events, {args.customers:,} customers, Zipf {args.zipf}, "
        f"{read_names} read models, projectors {args.projectors!r}, {os.cpu_count()} cores",
        rows)
    return 0


def catch_up(args: argparse.Namespace, shards: int) -> tuple[int, float, float, float, float, int]:
    """Fill a fresh store, then time ``shards`` projector shards catching up: (events, seconds,
    peak RSS of the largest process, events read for the reference, its seconds, read models)."""
    with harness.Run(keep=args.keep) as run:
        settings = run.settings.model_copy(update={"projection_shards": shards})
        history = run.history()
        harness.fill(history, loadgen.reported_facts(args.events, customers=args.customers,
                                                     zipf=args.zipf, seed=args.seed),
                     total=args.events, progress=not args.smoke)
        last = history.recorder.max_notification_id() or 0

        read, reference = harness.read_store(history, settings.projection_batch_size)

        views = bootstrap.build_views(settings, history)
        catalog = bootstrap.build_catalog(settings, history, views)
        chosen = [name for name in catalog.names
                  if any(name in catalog.chosen(each) for each in harness.projector_sets(args.projectors))]
        names = [shard.name for name in chosen
                 for shard in catalog.every_shard(name, catalog.generations(name)[0])]
        projectors = run.spawn_projectors(args.projectors, args.nice, shards)
        caught_up: dict[str, float] = {}
        shown = time.monotonic()

        def all_caught_up() -> bool:
            nonlocal shown
            for name in names:
                if name not in caught_up and (views.position(name) or 0) >= last:
                    caught_up[name] = time.perf_counter() - projectors[0].started
            if not args.smoke and time.monotonic() - shown > 15:
                shown = time.monotonic()
                print("  positions: " + ", ".join(f"{n} {views.position(n) or 0}" for n in names),
                      file=sys.stderr, flush=True)
            return len(caught_up) == len(names)

        harness.wait_until(all_caught_up, timeout=3600, what="every read model to catch up",
                           services=projectors, interval=0.05)
        rss = max(projector.peak_rss_mb() for projector in projectors)
        for projector in projectors:
            projector.stop()
    print("caught up after (s): " + ", ".join(f"{n} {s:.1f}" for n, s in caught_up.items()))
    return last, max(caught_up.values()), rss, read, reference, len(chosen)


if __name__ == "__main__":
    sys.exit(main())
