"""``schemas``: the wire contract as files, for teams that generate code or validate with it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from service.settings import Settings


def _export(settings: Settings, args: argparse.Namespace) -> None:
    """Every JSON Schema, ingested and published (one file per type, as in
    ``schemas/json/``), and this deployment's AsyncAPI document beside them."""
    from schemas.export import export_json_schemas
    from service.bootstrap import build_asyncapi

    directory: Path = args.directory
    written = export_json_schemas(directory, prune=False)
    asyncapi = directory / "asyncapi.json"
    asyncapi.write_text(json.dumps(build_asyncapi(settings), indent=2, sort_keys=True) + "\n")
    print(f"{len(written)} JSON Schemas and asyncapi.json written to {directory}")


def register(commands: Any) -> None:
    schemas = commands.add_parser("schemas", help="export the JSON Schemas and AsyncAPI document")
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write every JSON Schema (ingested and "
                                "published) and asyncapi.json into DIR (other files are kept)")
    export.add_argument("directory", type=Path, metavar="DIR")
    export.set_defaults(run=_export)
