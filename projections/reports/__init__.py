"""Reports: one module each, found by discovery.

A module here that defines ``REPORT = SomeReport`` (a :class:`base.Report`
subclass) is a report; nothing else needs to change to add one.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

from projections.reports.base import Report

log = logging.getLogger(__name__)


def report_classes(*, skip_broken: bool = False) -> dict[str, type[Report]]:
    """Every report module's report, by name. A module that does not import raises, or
    with ``skip_broken`` (a running process looking for new modules) is logged and left
    out, so one bad deployment does not take down what already works."""
    importlib.invalidate_caches()  # modules written since this process started
    found: dict[str, type[Report]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        try:
            imported = importlib.import_module(f"{__name__}.{module.name}")
        except Exception:
            if not skip_broken:
                raise
            log.warning("report module %s does not import; left out", module.name, exc_info=True)
            continue
        report = getattr(imported, "REPORT", None)
        if report is not None:
            found[report.name] = report
    return dict(sorted(found.items()))
