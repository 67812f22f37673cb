"""Reports: list, read as JSON or CSV, and rebuild them from history (admin)."""

from __future__ import annotations

import csv
import io
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from api.access import requires
from api.deps import ReadSide, read_side
from api.models import Rebuild, Report, Reports
from exports.cells import csv_cell
from projections import replay
from projections.catalog import UnknownReadModel
from projections.reports.base import Doc

router = APIRouter(tags=["reports"], dependencies=[Depends(requires("agent"))])


@router.get("/reports", operation_id="listReports", response_model=Reports)
def list_reports(side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Every report, and the rebuildable read models (``kind``), with its live generation,
    a rebuild in progress, how far it has read, whether it takes a range of months
    (``by_month``), and the running processes that serve it
    (``served_by``: API processes that read it, loops that follow it, each with the
    generation it uses; ``processes`` lists every running process and all it serves)."""
    shown = ("name", "kind", "title", "live_generation", "building_generation", "position",
             "store_position", "caught_up")
    running = side.catalog.serving.running()
    return {
        "reports": [{**{key: model[key] for key in shown},
                     "by_month": model["name"] in side.catalog.reports
                     and side.catalog.report(model["name"]).period is not None,
                     "served_by": [{"process": p.process, "role": p.role,
                                    "generation": p.serves[model["name"]]}
                                   for p in running if model["name"] in p.serves]}
                    for model in side.catalog.describe() if model["rebuildable"]],
        "processes": [p.as_dict() for p in running],
    }


def _csv(columns: tuple[str, ...], rows: list[Doc]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


#: A month, or a day (only its month counts): reports are kept by month.
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$"
_RANGE = "a month, YYYY-MM (or a day, YYYY-MM-DD: its month); inclusive"


@router.get("/reports/{name}", operation_id="getReport", response_model=Report,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
                       404: {"description": "No such report"}})
def read_report(
    name: str,
    request: Request,
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
    since: Annotated[str | None, Query(pattern=_MONTH, description=_RANGE)] = None,
    until: Annotated[str | None, Query(pattern=_MONTH, description=_RANGE)] = None,
    side: ReadSide = Depends(read_side),
) -> Any:
    """The live rows; CSV with `?format=csv` or `Accept: text/csv`. Reports by month take
    a range of months (`since`, `until`, both inclusive; `since` after `until`: no rows);
    other reports ignore them, and the answer's `since` and `until` are null."""
    catalog = side.catalog
    try:
        report = catalog.report(name)
    except UnknownReadModel as error:
        raise HTTPException(404, str(error)) from None
    if report.period is None:  # not by month: the answer's since and until say so (null)
        since = until = None
    if since and until and since[:7] > until[:7]:  # an empty range of months
        rows: list[Doc] = []
    else:
        rows = catalog.read(name, since=since and since[:7], until=until and until[:7])
    columns = report.columns
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(_csv(columns, rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return {"name": name, "title": report.title, "columns": list(columns),
            "since": since and since[:7], "until": until and until[:7], "rows": rows}


class Rebuilds:
    """The rebuilds one API app started, by read model name: the app's own (its
    ``state.rebuilds``), so two apps in a process never see each other's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_name: dict[str, replay.Progress] = {}


def _rebuilds(request: Request) -> Rebuilds:
    return request.app.state.rebuilds  # type: ignore[no-any-return]


@router.post("/admin/replay/{name}", status_code=202, dependencies=[Depends(requires("admin"))],
             operation_id="startRebuild", response_model=Rebuild,
             responses={404: {"description": "Nothing to rebuild by that name"},
                        409: {"description": "A rebuild of it is already running"}})
def start_replay(name: str, request: Request,
                 side: ReadSide = Depends(read_side)) -> dict[str, Any]:
    """Rebuild a report from the first event in the background; it swaps in when caught up."""
    catalog = side.catalog
    catalog.discover()  # a report module deployed since the API started
    if name not in catalog.rebuildable:
        raise HTTPException(404, f"nothing to rebuild called {name!r}; known: "
                            f"{', '.join(catalog.rebuildable)}")
    rebuilds = _rebuilds(request)
    with rebuilds.lock:
        running = rebuilds.by_name.get(name)
        if running is not None and running.state == "building":
            raise HTTPException(409, f"a rebuild of {name!r} is already running")
        progress = replay.Progress(name, generation=catalog.start_build(name))
        rebuilds.by_name[name] = progress

    def run() -> None:
        try:
            replay.replay(catalog, name, on_progress=lambda p: progress.__dict__.update(p.__dict__))
        except Exception as error:  # reported through GET /admin/replay/{name}
            progress.state, progress.error = "failed", f"{type(error).__name__}: {error}"

    threading.Thread(target=run, name=f"replay-{name}", daemon=True).start()
    return progress.as_dict()


@router.get("/admin/replay/{name}", dependencies=[Depends(requires("admin"))],
            operation_id="getRebuild", response_model=Rebuild,
            responses={404: {"description": "No rebuild of it started by this process"}})
def replay_progress(name: str, request: Request) -> dict[str, Any]:
    progress = _rebuilds(request).by_name.get(name)
    if progress is None:
        raise HTTPException(404, f"no rebuild of {name!r} was started by this API process")
    return progress.as_dict()
