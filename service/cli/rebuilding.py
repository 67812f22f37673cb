"""``replay``: rebuilding read models from the first event, with a progress bar."""

from __future__ import annotations

import argparse
from typing import Any

from service.settings import Settings


def _replay(settings: Settings, args: argparse.Namespace) -> None:
    """Rebuild reports from the first event with a progress bar; --diff shows before swapping."""
    from tqdm import tqdm

    from projections import replay, serving
    from projections.catalog import CUSTOMER_360
    from service import bootstrap

    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    catalog = bootstrap.build_catalog(settings, history, views)
    names = list(catalog.rebuildable) if args.all else [args.name]
    unknown = [n for n in names if n not in catalog.rebuildable]
    if not names or unknown:
        raise SystemExit(f"crm-timeline replay: nothing to rebuild called {unknown or names}; "
                         f"known: {', '.join(catalog.rebuildable)}")
    # One pass over the store builds them all: each batch is read and decoded once.
    with tqdm(desc=f"replay {', '.join(names)}", unit="event", dynamic_ncols=True) as bar:
        def show(progress: replay.Progress) -> None:
            bar.total = progress.total
            bar.update(progress.done - bar.n)

        result = replay.replay(catalog, names, swap=not args.diff, batch_size=args.batch_size,
                               on_progress=show)
    if not args.diff:
        live = {name: catalog.generations(name)[0] for name in names}
        print(f"{result.done} events folded; waiting for the running processes to take "
              f"{'it' if len(names) == 1 else 'them'} up...", flush=True)
        for name, reached in serving.reach(catalog.serving, live).items():
            print(reached.describe(name, live[name]))
        return
    for name in names:
        generation = catalog.generations(name)[1]
        changes = replay.diff(catalog, name)
        print(f"{name} generation {generation} against the live one: "
              f"{len(changes.added)} rows added, {len(changes.removed)} removed, "
              f"{len(changes.changed)} changed")
        if name == CUSTOMER_360:
            policies = catalog.generation_policies
            live_settings = policies.record(name, catalog.generations(name)[0])
            new_settings = policies.record(name, generation)
            for setting in sorted(new_settings.keys() | live_settings.keys()):
                if live_settings.get(setting) != new_settings.get(setting):
                    print(f"built with {setting} = {new_settings.get(setting)!r} "
                          f"(live: {live_settings.get(setting)!r})")
            tiers = replay.tier_changes(changes)
            print(f"customers whose loyalty tier changes: {len(tiers)}")
            for customer, before, after in tiers[:50]:
                print(f"  {customer}: {before} -> {after}")
        else:
            for old, new in changes.changed[:20]:
                print(f"  - {old}\n  + {new}")
        print("Run without --diff to swap it in.")


def register(commands: Any) -> None:
    rebuild = commands.add_parser(
        "replay", help="rebuild a report or the customer 360 from the first event into fresh "
        "tables, then swap it in"
    )
    rebuild.add_argument("name", nargs="?", help="customer360 or a report name (GET /reports)")
    rebuild.add_argument("--all", action="store_true", help="rebuild everything rebuildable")
    rebuild.add_argument("--diff", action="store_true",
                         help="build (or resume) and show the changes against the live version, "
                         "without swapping")
    rebuild.add_argument("--batch-size", type=int, default=2000,
                         help="stored events folded per transaction (default 2000)")
    rebuild.set_defaults(run=_replay)
