"""``webhooks``: the endpoints that receive alerts and segment changes, and their log."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from service.settings import Settings


def _webhooks(settings: Settings, args: argparse.Namespace) -> None:
    """Register, list and remove endpoints; show a delivery log; re-send an event."""
    from service import bootstrap
    from webhooks.book import WebhookBook
    from webhooks.targets import TargetRefused, check_events

    history = bootstrap.build_history(settings)
    book = WebhookBook(bootstrap.build_views(settings, history))
    try:
        if args.action == "add":
            try:
                url = bootstrap.webhook_targets(settings).check_url(args.url)
                events = check_events([e.strip() for names in args.events
                                       for e in names.split(",") if e.strip()])
            except TargetRefused as refused:
                raise SystemExit(f"crm-timeline webhooks: {refused}") from None
            made = book.register(url, events, args.description, "crm-timeline (command line)",
                                 datetime.now(UTC))
            print(f"{made['id']}  {made['url']}  {', '.join(made['events'])}\n"
                  f"secret {made['secret']}\n(shown once: give it to the receiver now)")
        elif args.action == "list":
            for row in book.listing():
                print(f"{row['id']}  {row['url']}  {', '.join(row['events'])}  "
                      f"{row['created_at']}  {row['description']}")
        elif args.action == "remove":
            removed = book.remove(args.webhook_id)
            if removed is None:
                raise SystemExit(f"crm-timeline webhooks: no webhook {args.webhook_id!r}")
            print(f"webhook {args.webhook_id} removed with {removed} deliveries")
        elif args.action == "deliveries":
            if book.get(args.webhook_id) is None:
                raise SystemExit(f"crm-timeline webhooks: no webhook {args.webhook_id!r}")
            for d in book.log(args.webhook_id, status=args.status, limit=args.limit):
                answer = d["last_error"] or d["last_status_code"] or ""
                due = f"  next {d['next_attempt_at']}" if d["next_attempt_at"] else ""
                print(f"{d['event_id']}  {d['event_type']}  {d['customer_id']}  {d['status']}"
                      f"  tries {d['attempts']}  {answer}{due}")
        else:
            if book.resend(args.webhook_id, args.event_id, datetime.now(UTC)) is None:
                raise SystemExit(f"crm-timeline webhooks: webhook {args.webhook_id!r} has no "
                                 f"delivery of event {args.event_id!r}")
            print(f"event {args.event_id} queued again for {args.webhook_id}")
    finally:
        history.close()


def register(commands: Any) -> None:
    hooks = commands.add_parser("webhooks", help="endpoints that receive alerts and segment "
                                "changes: add, list, remove, deliveries, resend")
    actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register an endpoint and print its secret once")
    add.add_argument("url", help="https:// to a public host")
    add.add_argument("--events", action="append", required=True, metavar="PATTERNS",
                     help="alerts, segments, CloudEvent types or prefixes (crm.anomaly.*), "
                     "separated by commas")
    add.add_argument("--description", default="")
    actions.add_parser("list", help="list endpoints (never their secrets)")
    remove = actions.add_parser("remove", help="remove an endpoint and its log")
    remove.add_argument("webhook_id")
    log = actions.add_parser("deliveries", help="an endpoint's deliveries, newest first")
    log.add_argument("webhook_id")
    log.add_argument("--status", choices=["pending", "delivered", "failed"])
    log.add_argument("--limit", type=int, default=50)
    resend = actions.add_parser("resend", help="send an event to an endpoint again")
    resend.add_argument("webhook_id")
    resend.add_argument("event_id")
    hooks.set_defaults(run=_webhooks)
