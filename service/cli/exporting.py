"""``export``: facts, customers and reports as Parquet, NDJSON or CSV, for SQL (DuckDB)."""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.settings import Settings

WHAT = ("facts", "customers", "segment", "report")


def _moment(text: str) -> datetime:
    """A date or a time (ISO 8601); a date is its midnight, a time without an offset UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (YYYY-MM-DD or ISO "
                                         "8601)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _source(settings: Settings, args: argparse.Namespace) -> Any:
    """What ``args`` ask to export, from this deployment's store and read models."""
    from exports import sources
    from predictions.model_book import ModelBook
    from projections.catalog import UnknownReadModel
    from projections.segments import SegmentBook
    from service import bootstrap

    if args.what in ("report", "segment") and not args.name:
        raise SystemExit(f"crm-timeline export {args.what}: name it (export {args.what} NAME)")
    if args.what in ("customers", "segment") and (args.since or args.until):
        raise SystemExit(f"crm-timeline export {args.what}: --since/--until choose facts and "
                         "report months; customers are exported as they are now")
    history = bootstrap.build_history(settings)
    views = bootstrap.build_views(settings, history)
    if args.what == "facts":
        return sources.facts(history, personal=args.personal, since=args.since, until=args.until)
    catalog = bootstrap.build_catalog(settings, history, views)
    if args.what == "customers":
        return sources.customers(catalog, ModelBook(views), personal=args.personal)
    if args.what == "segment":
        with views.read() as db:
            if not SegmentBook(views).history(db, args.name):
                raise SystemExit(f"crm-timeline export segment: no segment {args.name!r}")
        return sources.customers(catalog, ModelBook(views), personal=args.personal,
                                 segment=args.name)
    try:
        return sources.report(catalog, args.name, since=args.since and args.since.strftime("%Y-%m"),
                              until=args.until and args.until.strftime("%Y-%m"))
    except (UnknownReadModel, ValueError) as error:
        raise SystemExit(f"crm-timeline export report: {error}") from None


def _export(settings: Settings, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from exports.writers import Writer

    source = _source(settings, args)
    if args.personal:
        print("note: personal fields included (--personal); erased customers' are gone from "
              "the store and in no export", file=sys.stderr)
    name = f"{args.what}-{args.name}" if args.name else args.what
    out = None if args.out == "-" else Path(args.out or f"{name}.{args.format}")
    started = time.monotonic()
    try:
        writer = Writer(out, args.format, source.columns, stdout=sys.stdout)
    except ValueError as error:
        raise SystemExit(f"crm-timeline export: {error}") from None
    try:
        with tqdm(total=source.total, unit=source.unit, desc=f"export {name}",
                  dynamic_ncols=True, file=sys.stderr) as bar:
            for rows, done in source.batches:
                writer.write(rows)
                bar.update(done - bar.n)
    finally:
        writer.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    where = "standard output" if out is None else f"{out} ({out.stat().st_size / 1e6:,.1f} MB)"
    print(f"{writer.rows:,} rows of {name} written to {where} in "
          f"{time.monotonic() - started:,.1f} s; peak memory {peak:,.0f} MB", file=sys.stderr)


def register(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="facts, customers, a segment or a report as Parquet, NDJSON or CSV",
        description="Write facts (store order), customers (the live 360s), a segment's "
        "members or a report's rows "
        "to a file, in batches with bounded memory. Personal fields are left out unless "
        "--personal; an erased customer's are in no export.")
    export.add_argument("what", choices=WHAT)
    export.add_argument("name", nargs="?", help="the segment or report to export")
    export.add_argument("--format", choices=("parquet", "ndjson", "csv"), default="parquet")
    export.add_argument("--out", help="the file to write (default WHAT[-NAME].FORMAT here; "
                        "'-' for standard output, NDJSON and CSV only)")
    export.add_argument("--since", type=_moment, help="facts that occurred from then on (a "
                        "report: from that month)")
    export.add_argument("--until", type=_moment, help="facts that occurred before then (a "
                        "report: up to that month)")
    export.add_argument("--personal", action="store_true",
                        help="include personal fields (names, e-mails, phones, free text)")
    export.set_defaults(run=_export)
