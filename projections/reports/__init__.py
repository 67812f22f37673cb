"""Reports: one module each, found by discovery.

A module here that defines ``REPORT = SomeReport`` (a :class:`base.Report`
subclass) is a report; nothing else needs to change to add one.
"""

from __future__ import annotations

import importlib
import pkgutil

from projections.reports.base import Report


def report_classes() -> dict[str, type[Report]]:
    """Every report module's report, by name."""
    found: dict[str, type[Report]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        report = getattr(importlib.import_module(f"{__name__}.{module.name}"), "REPORT", None)
        if report is not None:
            found[report.name] = report
    return dict(sorted(found.items()))
