"""Running the service's processes: ingestion, projections, API, or all of them at once.

Each runs until SIGINT or SIGTERM, then finishes its current batch and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import prometheus_client
import uvicorn

from projections.catalog import UnknownReadModel
from projections.serving import Heartbeat
from service import bootstrap
from service.settings import Settings, SettingsError
from service.topics import ensure_topics

log = logging.getLogger(__name__)


def _stop_on_signals(stop: Callable[[], None]) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop())


def _serve_metrics(settings: Settings) -> None:
    """This process's Prometheus counters on CRM_METRICS_PORT, if set (the API has /metrics)."""
    if settings.metrics_port:
        try:
            prometheus_client.start_http_server(settings.metrics_port, addr=settings.api_host)
        except OSError as error:
            raise SettingsError(f"CRM_METRICS_PORT: cannot serve metrics on "
                                f"{settings.api_host}:{settings.metrics_port}: {error.strerror}") from None
        log.info("metrics on http://%s:%d/metrics", settings.api_host, settings.metrics_port)


def run_consumer(settings: Settings) -> None:
    """Ingest the CRM topics into the customer history until stopped."""
    ensure_topics(settings)
    _serve_metrics(settings)
    history = bootstrap.build_history(settings)
    ingestion = bootstrap.build_ingestion(settings, history)
    stop = threading.Event()

    def stopping() -> None:
        stop.set()
        ingestion.relay.wake()

    _stop_on_signals(stopping)
    relay = threading.Thread(target=ingestion.relay.run, args=(stop,), name="dead-letter relay")
    relay.start()
    try:
        ingestion.run(stop)  # on a signal, the batch in hand is stored first
    finally:
        stopping()
        relay.join()
        history.close()
    log.info("ingestion stopped")


def start_projectors(settings: Settings, stop: threading.Event) -> list[threading.Thread]:
    """The read models chosen by CRM_PROJECTIONS following the history; with the complaint
    SLA come its clock, the alert relay, the segments with their relay, and the webhook
    worker."""
    ensure_topics(settings)
    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    catalog = bootstrap.build_catalog(settings, history, views)
    try:
        loops = bootstrap.build_projection_loops(settings, history, views, catalog)
    except UnknownReadModel as error:
        raise SettingsError(f"CRM_PROJECTIONS: {error}") from None
    names = ["projections"] if len(loops) == 1 else ["projections: timeline", "projections: others"]
    threads = [threading.Thread(target=loop.run, args=(stop,), name=name)
               for name, loop in zip(names, loops, strict=True)]
    heartbeat = Heartbeat(catalog.serving, "projector",
                          lambda: {k: v for loop in loops for k, v in loop.following().items()})
    threads.append(threading.Thread(target=heartbeat.run, args=(stop,), name="heartbeat"))
    if any(loop.periodic for loop in loops):
        relay = bootstrap.build_alert_relay(settings, views)
        threads.append(threading.Thread(target=relay.run, args=(stop, settings.alert_relay_seconds),
                                        name="alert-relay"))
        # Segments follow the live 360 beside the SLA clock: one process keeps them.
        keeper = bootstrap.build_segment_keeper(settings, catalog)
        threads.append(threading.Thread(target=keeper.run, args=(stop, settings.segment_seconds),
                                        name="segments"))
        segment_relay = bootstrap.build_segment_relay(settings, views)
        threads.append(threading.Thread(target=segment_relay.run,
                                        args=(stop, settings.alert_relay_seconds),
                                        name="segment-relay"))
        # Webhooks fan out from both outboxes, so they run where the relays do.
        webhooks = bootstrap.build_webhook_worker(settings, views)
        threads.append(threading.Thread(target=webhooks.run, args=(stop, settings.webhook_seconds),
                                        name="webhooks"))
    for thread in threads:
        thread.start()
    return threads


def run_projectors(settings: Settings) -> None:
    """Keep every read model following the customer history until stopped."""
    stop = threading.Event()
    _stop_on_signals(stop.set)
    _serve_metrics(settings)
    threads = start_projectors(settings, stop)
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    log.info("projections stopped")


def api_server(settings: Settings) -> uvicorn.Server:
    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    config = uvicorn.Config(
        bootstrap.build_api(settings, history, views),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
    )
    return uvicorn.Server(config)


def run_api(settings: Settings) -> None:
    """Serve the HTTP API until stopped."""
    log.info("API on http://%s:%d/docs", settings.api_host, settings.api_port)
    api_server(settings).run()
