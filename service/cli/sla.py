"""``sla what-if``: what a candidate SLA policy book would have judged, before deploying it.

A preview: the complaints are replayed in memory (``projections/sla_whatif.py``);
nothing is written, no alert raised, nothing published.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.sla_policy import PolicyBook
from domain.sla_verdicts import moment
from domain.sla_whatif import OpeningWindow, WhatIf, moment_or_day
from service.settings import Settings
from service.sla_config import SlaConfigError, parse_policy_book

#: Flipped deadlines the table lists (``--json`` lists them all).
SHOWN_FLIPS = 50


def _moment(end_of_day: bool = False) -> Any:
    def parse(text: str) -> datetime:
        try:
            return moment_or_day(text, end_of_day=end_of_day)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def candidate_book(path: Path) -> PolicyBook:
    """The candidate policy book; ``SlaConfigError`` saying where and why if it is unusable."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SlaConfigError(f"--policy: cannot read {path}: {reason}") from None
    return parse_policy_book(text, source=f"candidate SLA policy {path}")


def _what_if(settings: Settings, args: argparse.Namespace) -> None:
    """Replay every complaint under the candidate book and show what changes."""
    from tqdm import tqdm

    from projections.sla_whatif import sla_what_if
    from service import bootstrap

    candidate = candidate_book(args.policy)  # a bad file stops here, before the store opens
    current = settings.policies().sla
    try:
        window = OpeningWindow(args.since, args.until)
    except ValueError as error:
        raise SystemExit(f"crm-timeline sla what-if: {error}") from None
    history = bootstrap.build_history(settings)
    try:
        with tqdm(desc="sla what-if", unit="event", dynamic_ncols=True) as bar:
            def show(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            result = sla_what_if(history, current, candidate, as_of=args.as_of, window=window,
                                 apply_to_open=args.apply_to_open, on_progress=show)
    finally:
        history.close()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    for line in describe(result, window):
        print(line)


def describe(result: WhatIf, window: OpeningWindow) -> list[str]:
    """The what-if as a table by category and priority, then the flipped deadlines."""
    totals = result.totals
    lines = [
        f"SLA what-if as of {moment(result.as_of)}: {totals.complaints:,} complaints "
        f"({window.describe()})",
        f"current policies: {', '.join(result.current)}; candidate: {', '.join(result.candidate)}",
        "candidate policies apply to complaints opened from their effective_from"
        + (", and take over those still open then (--apply-to-open)" if result.apply_to_open
           else ", and to those still open then if applies_to_open (--apply-to-open previews "
           "every later one taking them over)"),
        "",
        f"{'category':20} {'priority':8} {'complaints':>10}  {'breaches':>8} {'after':>6} "
        f"{'change':>6}  {'at risk':>7} {'after':>6} {'change':>6}",
    ]

    def row(category: str, priority: str, t: Any) -> str:
        return (f"{category[:20]:20} {priority:8} {t.complaints:>10,}  {t.breaches_before:>8,} "
                f"{t.breaches_after:>6,} {t.breaches_after - t.breaches_before:>+6,}  "
                f"{t.at_risk_before:>7,} {t.at_risk_after:>6,} "
                f"{t.at_risk_after - t.at_risk_before:>+6,}")

    lines += [row(c, p, t) for (c, p), t in sorted(result.by_group.items())]
    lines += [row("all", "", totals), ""]
    flips = result.flips
    lines.append(f"deadline verdicts that flip: {len(flips):,} in {result.flipped_complaints:,} "
                 "complaints" + (f" (first {SHOWN_FLIPS} shown; --json lists all)"
                                 if len(flips) > SHOWN_FLIPS else ""))
    for flip in flips[:SHOWN_FLIPS]:
        lines.append(f"  {flip.complaint_id} of {flip.customer_id} "
                     f"({flip.category or 'no category'}, {flip.priority}): {flip.words()}")
    if result.unjudged:
        lines.append(f"not judged: {result.unjudged:,} complaints with follow-ups but no "
                     "recorded opening")
    lines.append("A preview: nothing was written, no alert raised, nothing published.")
    return lines


def register(commands: Any) -> None:
    sla = commands.add_parser("sla", help="complaint SLA policies: preview a candidate book")
    actions = sla.add_subparsers(dest="action", required=True, metavar="ACTION")
    what_if = actions.add_parser(
        "what-if", help="replay every complaint under a candidate policy book: breaches and "
        "at-risk before and after, and the verdicts that flip (nothing is published)")
    what_if.add_argument("--policy", type=Path, required=True,
                         help="the candidate SLA policy book (TOML, as CRM_SLA_POLICY_FILE)")
    what_if.add_argument("--since", type=_moment(), help="complaints opened from this day "
                         "(YYYY-MM-DD, UTC) or moment (RFC 3339)")
    what_if.add_argument("--until", type=_moment(end_of_day=True),
                         help="complaints opened up to this day (inclusive) or moment")
    what_if.add_argument("--as-of", type=_moment(), default=None,
                         help="judge open deadlines as of this moment (default: now)")
    what_if.add_argument("--apply-to-open", action="store_true",
                         help="preview every later policy of the candidate taking over complaints "
                         "still open when it comes into force (deadlines recomputed: see README)")
    what_if.add_argument("--json", action="store_true", help="the summary as JSON, every flip")
    what_if.set_defaults(run=_what_if)
