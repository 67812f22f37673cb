"""``keys``: the API keys, made, listed and revoked."""

from __future__ import annotations

import argparse
from typing import Any

from service.settings import Settings


def _keys(settings: Settings, args: argparse.Namespace) -> None:
    """Create, list and revoke API keys."""
    from access.keys import KeyRing
    from service import bootstrap

    history = bootstrap.build_history(settings)
    keys = KeyRing(bootstrap.build_views(settings, history))
    if args.action == "create":
        allow = [name.strip() for names in args.allow or [] for name in names.split(",")
                 if name.strip()]
        try:
            key = keys.create(args.name, args.role, allow, agent_id=args.agent, team=args.team)
        except ValueError as error:
            raise SystemExit(f"crm-timeline keys: {error}") from None
        granted = f"; may publish {', '.join(sorted(set(allow)))}" if allow else ""
        agent = f"; agent {args.agent}" + (f" of team {args.team}" if args.team else "") \
            if args.agent else ""
        print(f"{key}\n(shown once: store it now; role {args.role}, name {args.name}{agent}"
              f"{granted})")
    elif args.action == "revoke":
        if not keys.revoke(args.key_id):
            raise SystemExit(f"crm-timeline keys: no key {args.key_id!r}")
        print(f"key {args.key_id} revoked")
    else:
        for row in keys.list():
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
            allowed = f"  allow {row['permissions']}" if row["permissions"] else ""
            agent = f"  agent {row['agent_id']}" if row["agent_id"] else ""
            team = f"  team {row['team']}" if row["team"] else ""
            print(f"{row['key_id']}  {row['role']:6}  {row['name']:24}  {row['created_at']}  "
                  f"{state}{agent}{team}{allowed}")


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument("--role", required=True, choices=["agent", "ingest", "admin"])
    create.add_argument(
        "--allow", action="append", metavar="TYPES",
        help="privileged event types an ingest key may publish, separated by commas: "
        "crm.account.merged, crm.account.unmerged, crm.account.erasure_requested "
        "(none by default)")
    create.add_argument("--agent", metavar="AGENT_ID",
                        help="the agent the key belongs to (an owner id, e.g. A-007): the "
                        "work queue opens on their customers, acknowledgements record them")
    create.add_argument("--team", help="the agent's team (with --agent), e.g. billing: "
                        "GET /queue?team= lists the work of its agents")
    key_actions.add_parser("list", help="list keys (never their secrets)")
    revoke = key_actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    keys.set_defaults(run=_keys)
