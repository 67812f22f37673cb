"""The read benchmarks' shared parts: a store of one busy customer and many quiet ones, the
API serving it, and an open-loop load offered at a fixed rate.

The load is open loop: requests are scheduled on a timer and sent by a pool of
threads sharing one httpx connection pool, whatever the previous ones are doing.
Latency counts from the scheduled send time, so a stall shows up as queueing in
every request behind it. What is asked for comes from a *plan*: a picklable
callable (the load runs in a process of its own) giving, for request ``n``, the
path, the query and whether the answer's ``next_cursor`` is worth keeping for later
requests (deeper pages).
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from dataclasses import dataclass
from queue import Queue
from typing import Any, Protocol

import harness
import httpx

from access.keys import KeyRing
from generators import loadgen
from service import bootstrap

BIG = "C-BIG-1"


class Plan(Protocol):
    def __call__(self, n: int, rng: random.Random, cursors: list[str]
                 ) -> tuple[str, dict[str, Any], bool]: ...


def parse_arguments(description: str) -> Any:
    """The read benchmarks' options (the population, the rate, how long), smoke defaults
    applied."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--big-events", type=int, help="events of the busy customer (10000; smoke 1000)")
    parser.add_argument("--others", type=int, help="other customers (2000; smoke 200)")
    parser.add_argument("--events-per-other", type=int, default=10)
    parser.add_argument("--rate", type=float, help="requests/s offered (200; smoke 50)")
    parser.add_argument("--seconds", type=float, help="how long (30; smoke 5)")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    harness.apply_defaults(args, big_events=(10_000, 1_000), others=(2_000, 200),
                           rate=(200.0, 50.0), seconds=(30.0, 5.0))
    return args


def warm(served: Served, path: str, params: dict[str, Any] | None = None) -> None:
    """Ask for ``path`` (``{customer}`` filled in) once for the busy customer and 20 others,
    so the figures start with a warm API."""
    with httpx.Client(base_url=served.base_url,
                      headers={"Authorization": f"Bearer {served.key}"}) as client:
        for customer in [BIG, *served.others[:20]]:
            client.get(path.format(customer=customer), params=params).raise_for_status()


@dataclass
class Served:
    base_url: str
    key: str
    others: list[str]
    total: int  # events stored
    history: Any
    views: Any
    catalog: Any
    api: Any  # the API process


def populate_and_serve(run: harness.Run, args: Any) -> Served:
    """A fresh schema with ``BIG`` (``--big-events``) and ``--others`` customers of
    ``--events-per-other`` events each, recorded with ``record``; every read model
    projected in this process; an agent key; ``crm-timeline api`` on a free port."""
    history = run.history()
    others = [f"C-{20000 + n}" for n in range(args.others)]
    draws = [BIG] * args.big_events + others * args.events_per_other
    random.Random(args.seed).shuffle(draws)
    total = harness.fill(history, (loadgen.as_fact(e) for e in loadgen.events_of(draws)),
                         total=len(draws), progress=not args.smoke)
    views = bootstrap.build_views(run.settings, history)
    catalog = bootstrap.build_catalog(run.settings, history, views)
    bootstrap.build_projection_loop(run.settings, history, views, catalog).projector().catch_up()
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
    return Served(base_url, key, others, total, history, views, catalog, api)


def offer_load(base_url: str, key: str, plan: Plan, rate: float, seconds: float, seed: int,
               out: Any) -> None:
    """The load process: offer ``rate`` requests/s of ``plan`` for ``seconds``; put the
    latencies (s), errors, requests offered and time taken on ``out``."""
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
            scheduled, path, params, keep_cursor = job
            try:
                response = client.get(path, params=params)
                ok = response.status_code == 200
                cursor = response.json().get("next_cursor") if ok and keep_cursor else None
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
        with lock:
            path, params, keep_cursor = plan(n, rng, cursors)
        jobs.put((due, path, params, keep_cursor))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    client.close()
    out.put({"latencies": latencies, "errors": errors, "offered": total, "elapsed": elapsed})


def run_load(served: Served, plan: Plan, args: Any) -> dict[str, Any]:
    """``offer_load`` in a process of its own (the API's and the load's CPU apart from this
    one's); its results."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    load = context.Process(target=offer_load, args=(served.base_url, served.key, plan, args.rate,
                                                    args.seconds, args.seed, results))
    load.start()
    outcome = results.get(timeout=args.seconds + 120)
    load.join()
    served.api.check()
    return outcome  # type: ignore[no-any-return]


def latency_rows(name: str, outcome: dict[str, Any], direct: list[float], reference: str,
                 rate: float) -> list[harness.Row]:
    """The table rows of a read benchmark: p99 (target 25 ms, no errors), p50, max, errors,
    achieved rate; ``direct`` the reference's latencies (s)."""
    latencies = [s * 1000 for s in outcome["latencies"]]
    direct_ms = [s * 1000 for s in direct]
    p50, p99 = harness.percentile(latencies, 50), harness.percentile(latencies, 99)
    ref50, ref99 = harness.percentile(direct_ms, 50), harness.percentile(direct_ms, 99)
    errors = outcome["errors"]
    achieved = len(latencies) / outcome["elapsed"]
    if errors:
        print(f"errors (first 5 of {len(errors)}): {errors[:5]}")
    return [
        harness.Row(f"{name}: p99 latency from scheduled send", f"{p99:,.1f} ms",
                    f"{ref99:,.1f} ms ({reference})", harness.ratio(p99, ref99),
                    "<= 25 ms, 0 errors", p99 <= 25 and not errors),
        harness.Row(f"{name}: p50 latency", f"{p50:,.1f} ms", f"{ref50:,.1f} ms ({reference})",
                    harness.ratio(p50, ref50)),
        harness.Row(f"{name}: max latency", f"{max(latencies):,.1f} ms", f"{max(direct_ms):,.1f} ms"),
        harness.Row(f"{name}: errors", f"{len(errors)} of {len(latencies)}", target="0",
                    reached=not errors),
        harness.Row(f"{name}: achieved rate", f"{achieved:,.0f} requests/s",
                    f"{rate:,.0f} requests/s offered", harness.ratio(achieved, rate)),
    ]
