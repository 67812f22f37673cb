"""``projections set-aside``: facts the read models could not apply, listed, acknowledged
and retried after a fix."""

from __future__ import annotations

import argparse
import time
from typing import Any

from service.settings import Settings


def _set_aside(settings: Settings, args: argparse.Namespace) -> None:
    """List, acknowledge and retry the facts read models set aside."""
    from projections.set_aside import SetAsideBook
    from service import bootstrap

    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    book = SetAsideBook(views)
    views.create_tables(book.create_statements())
    if args.action == "list":
        with views.read() as db:
            rows = book.listing(db, read_model=args.read_model, acknowledged=args.all)
        for row in rows:
            state = "acknowledged" if row["acknowledged_at"] else "new"
            print(f"{row['read_model']:32} position {row['position']:>10}  "
                  f"{row['set_aside_at']:%Y-%m-%d %H:%M:%S}  {state:12}  {row['event_type']:28} "
                  f"{row['event_id']}  customer {row['customer_id']}\n    {row['error']}")
        print((f"{len(rows)} facts set aside" if rows else "no facts set aside")
              + ("" if args.all else " (not acknowledged; --all shows every one)"))
    elif args.action == "ack":
        with views.write() as db:
            count = book.acknowledge(db, args.read_model)
        print(f"acknowledged {count} set-aside facts; /readyz no longer counts them")
    else:
        with views.write() as db:
            count = book.request_retry(db, args.read_model)
        if not count:
            print("no facts set aside")
            return
        print(f"asked the projectors to apply {count} set-aside facts again; waiting "
              f"(at most {args.wait:g} s)...")
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            with views.read() as db:
                waiting = [r for r in book.listing(db, read_model=args.read_model)
                           if r["retry_requested_at"] is not None]
            if not waiting:
                break
            time.sleep(0.5)
        with views.read() as db:
            rows = book.listing(db, read_model=args.read_model)
        still = [r for r in rows if r["retry_requested_at"] is None]
        pending = len(rows) - len(still)
        print(f"{count - len(rows)} applied, {len(still)} still failing"
              + (f", {pending} not picked up: is `crm-timeline project` running for their "
                 "read models (CRM_PROJECTIONS)?" if pending else ""))
        for row in still:
            print(f"  {row['read_model']} position {row['position']}: {row['error']}")
        if still or pending:
            raise SystemExit(1)


def register(commands: Any) -> None:
    projections = commands.add_parser(
        "projections", help="facts the read models set aside: list, acknowledge, retry")
    projection_actions = projections.add_subparsers(dest="topic", required=True, metavar="WHAT")
    set_aside = projection_actions.add_parser(
        "set-aside", help="facts a read model could not apply and went on without")
    set_aside_actions = set_aside.add_subparsers(dest="action", required=True, metavar="ACTION")
    listed = set_aside_actions.add_parser("list", help="the facts set aside, oldest first")
    listed.add_argument("--all", action="store_true", help="acknowledged ones too")
    acknowledged = set_aside_actions.add_parser(
        "ack", help="acknowledge them: /readyz stops counting them (they stay retryable)")
    retried = set_aside_actions.add_parser(
        "retry", help="after a fix: have the projectors apply them again, and wait for it")
    retried.add_argument("--wait", type=float, default=60, help="seconds to wait (default 60)")
    for action in (listed, acknowledged, retried):
        action.add_argument("--read-model", help="only this read model's (its tracking name)")
    set_aside.set_defaults(run=_set_aside)
