"""``segments``: define, list and build segments from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from service.settings import Settings


def _rule(text: str) -> Any:
    """A rule as JSON text, or ``@FILE`` holding it."""
    source = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"the rule is not JSON: {error}") from None


def _book(settings: Settings) -> Any:
    from projections.segments import SegmentBook
    from service import bootstrap

    history = bootstrap.build_history(settings)
    return bootstrap, history, SegmentBook(bootstrap.build_views(settings, history))


def _define(settings: Settings, args: argparse.Namespace) -> None:
    from domain.segment_rules import RuleError, check_name, parse_rule

    try:
        check_name(args.name)
        rule = parse_rule(args.rule)
    except RuleError as error:
        raise SystemExit(f"crm-timeline segments define: {error}") from None
    _, _, book = _book(settings)
    defined = book.define(args.name, rule, args.description, by="crm-timeline (command line)")
    print(f"segment {defined.name} version {defined.version} defined; a running projector "
          f"builds it over every customer (or run `crm-timeline segments build`)")


def _list(settings: Settings, args: argparse.Namespace) -> None:
    _, _, book = _book(settings)
    with book.views.read() as db:
        current, passes = book.current(db), book.passes_of(db)
        sizes = {name: book.size(db, name) for name in current}
    if not current:
        print("no segments defined (crm-timeline segments define NAME --rule JSON)")
    for name, definition in current.items():
        state = passes.get(name)
        if definition.rule is None:
            shown = "retired"
        elif state is None or state["version"] != definition.version:
            shown = "waiting to be built"
        elif state["kind"]:
            shown = f"{state['kind']}: {state['done']:,} of {state['total']:,} customers"
        else:
            shown = "built"
        print(f"{name} v{definition.version}: {sizes[name]:,} members, {shown}"
              f"{' (' + definition.description + ')' if definition.description else ''}")


def _build(settings: Settings, args: argparse.Namespace) -> None:
    """Run every pass in progress to its end now, with a progress bar."""
    from tqdm import tqdm

    bootstrap, history, book = _book(settings)
    views = book.views
    keeper = bootstrap.build_segment_keeper(settings, bootstrap.build_catalog(settings, history, views))
    changes = 0
    with tqdm(unit="customer", desc="segments", dynamic_ncols=True, file=sys.stderr) as bar:
        while True:
            changes += keeper.tick()
            with views.read() as db:
                running = [p for p in book.passes_of(db).values() if p["kind"]]
                waiting = set(book.current(db)) - set(book.passes_of(db))
            bar.total = sum(p["total"] for p in running) or bar.total
            bar.n = sum(p["done"] for p in running)
            bar.refresh()
            if not running and not waiting:
                break
    print(f"every segment built; {changes:,} entries and exits recorded", file=sys.stderr)


def register(commands: Any) -> None:
    segments = commands.add_parser("segments", help="define, list and build customer segments")
    actions = segments.add_subparsers(dest="action", required=True, metavar="ACTION")
    define = actions.add_parser("define", help="a new version of a segment (rule as JSON)")
    define.add_argument("name")
    define.add_argument("--rule", type=_rule, required=True,
                        help="the rule as JSON, or @FILE (see domain/segment_rules.py)")
    define.add_argument("--description", default="")
    define.set_defaults(run=_define)
    actions.add_parser("list", help="every segment, its members and build").set_defaults(run=_list)
    actions.add_parser("build", help="judge every segment's members now, in the foreground "
                       "(a running projector does it in the background)").set_defaults(run=_build)
