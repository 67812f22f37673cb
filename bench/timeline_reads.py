"""Timeline reads: latency of GET /customers/{id}/timeline under a fixed offered rate.

    python bench/timeline_reads.py         # 200 requests/s for 30 s
    python bench/timeline_reads.py --smoke # 50 requests/s for 5 s, small store

Fills a fresh schema with one busy customer (10,000 events) and 2,000 others
(10 events each) through ``record``, projects the timeline and the 360 in this
process, creates an agent API key (``access.keys.KeyRing``) and serves the API
(``crm-timeline api`` on a free port). A separate load process then offers a
fixed rate, open loop (requests scheduled on a timer and sent by a pool of
threads sharing one httpx connection pool, whatever the previous ones are
doing), of ``GET /customers/{id}/timeline?limit=50``: half for the busy
customer at random depths (cursors from earlier pages), half for the first
page of a random other customer. Latency counts from the scheduled send time,
so a stall shows up as queueing in every request behind it.

Reference: the same query (``TimelineProjection.page``, the SQL
and row decoding the endpoint runs) directly against the database from this
process, one at a time, with the same mix of customers and pages.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import threading
import time
from queue import Queue
from typing import Any

import harness
import httpx

from access.keys import KeyRing
from generators import loadgen
from projections.catalog import TIMELINE
from service import bootstrap

BIG = "C-BIG-1"


def offer_load(base_url: str, key: str, others: list[str], rate: float, seconds: float,
               seed: int, out: Any) -> None:
    """The load process: offer ``rate`` requests/s for ``seconds``; put the results on ``out``."""
    rng = random.Random(seed)
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                          timeout=10, limits=httpx.Limits(max_connections=64,
                                                          max_keepalive_connections=64))
    jobs: Queue[tuple[float, str, dict[str, Any], bool] | None] = Queue()
    latencies: list[float] = []
    errors: list[str] = []
    cursors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := jobs.get()) is not None:
            scheduled, path, params, big = job
            try:
                response = client.get(path, params=params)
                ok = response.status_code == 200
                cursor = response.json().get("next_cursor") if ok and big else None
            except Exception as error:  # noqa: BLE001 - counted as an error
                ok, cursor = False, None
                response = error  # type: ignore[assignment]
            done = time.perf_counter()
            with lock:
                latencies.append(done - scheduled)
                if not ok:
                    errors.append(str(getattr(response, "status_code", response))[:200])
                if cursor:
                    if len(cursors) < 5000:
                        cursors.append(cursor)
                    else:
                        cursors[rng.randrange(len(cursors))] = cursor

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(48)]
    for thread in threads:
        thread.start()
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for n in range(total):
        due = start + n / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        if n % 2 == 0:
            with lock:
                cursor = rng.choice(cursors) if cursors and rng.random() < 0.9 else None
            params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
            jobs.put((due, f"/customers/{BIG}/timeline", params, True))
        else:
            jobs.put((due, f"/customers/{rng.choice(others)}/timeline", {"limit": 50}, False))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    client.close()
    out.put({"latencies": latencies, "errors": errors, "offered": total, "elapsed": elapsed})


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-events", type=int, help="events of the busy customer (10000; smoke 1000)")
    parser.add_argument("--others", type=int, help="other customers (2000; smoke 200)")
    parser.add_argument("--events-per-other", type=int, default=10)
    parser.add_argument("--rate", type=float, help="requests/s offered (200; smoke 50)")
    parser.add_argument("--seconds", type=float, help="how long (30; smoke 5)")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, big_events=(10_000, 1_000), others=(2_000, 200),
                           rate=(200.0, 50.0), seconds=(30.0, 5.0))

    with harness.Run(keep=args.keep) as run:
        settings = run.settings
        history = run.history()
        others = [f"C-{20000 + n}" for n in range(args.others)]
        draws = [BIG] * args.big_events + others * args.events_per_other
        random.Random(args.seed).shuffle(draws)
        total = harness.fill(history, (loadgen.as_fact(e) for e in loadgen.events_of(draws)),
                             total=len(draws), progress=not args.smoke)
        views = bootstrap.build_views(settings, history)
        catalog = bootstrap.build_catalog(settings, history, views)
        bootstrap.build_projection_loop(settings, history, views, catalog).projector().catch_up()
        key = KeyRing(views).create("bench", "agent")
        port = harness.free_port()
        api = run.spawn("api", CRM_API_PORT=str(port))
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        harness.wait_until(healthy, timeout=60, what="the API", services=[api], interval=0.2)
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as warm:
            for customer in [BIG, *others[:20]]:
                warm.get(f"/customers/{customer}/timeline", params={"limit": 50}).raise_for_status()

        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        load = context.Process(target=offer_load, args=(base_url, key, others, args.rate,
                                                        args.seconds, args.seed, results))
        load.start()
        outcome = results.get(timeout=args.seconds + 120)
        load.join()
        api.check()
        direct = reference(catalog.live(TIMELINE), others, min(2000, int(args.rate * args.seconds)),
                           args.seed)

    latencies = [s * 1000 for s in outcome["latencies"]]
    direct_ms = [s * 1000 for s in direct]
    p50, p99 = harness.percentile(latencies, 50), harness.percentile(latencies, 99)
    ref50, ref99 = harness.percentile(direct_ms, 50), harness.percentile(direct_ms, 99)
    errors = outcome["errors"]
    achieved = len(latencies) / outcome["elapsed"]
    if errors:
        print(f"errors (first 5 of {len(errors)}): {errors[:5]}")
    harness.print_table(
        f"timeline reads: {total:,} stored events ({args.big_events:,} for {BIG}, "
        f"{args.others:,} others), {args.rate:,.0f} requests/s offered for {args.seconds:.0f} s",
        [
            harness.Row("timeline reads: p99 latency from scheduled send", f"{p99:,.1f} ms",
                        f"{ref99:,.1f} ms (the same query run directly)", harness.ratio(p99, ref99),
                        "<= 25 ms, 0 errors", p99 <= 25 and not errors),
            harness.Row("timeline reads: p50 latency", f"{p50:,.1f} ms",
                        f"{ref50:,.1f} ms (the same query run directly)", harness.ratio(p50, ref50)),
            harness.Row("timeline reads: max latency", f"{max(latencies):,.1f} ms",
                        f"{max(direct_ms):,.1f} ms"),
            harness.Row("timeline reads: errors", f"{len(errors)} of {len(latencies)}",
                        target="0", reached=not errors),
            harness.Row("timeline reads: achieved rate", f"{achieved:,.0f} requests/s",
                        f"{args.rate:,.0f} requests/s offered",
                        harness.ratio(achieved, args.rate)),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
