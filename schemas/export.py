"""Publishing the wire contract as JSON Schema files, one per event type: the types the
service ingests and the ones it publishes (``schemas/published.py``).

    python -m schemas.export          # (re)write schemas/json/
    python -m schemas.export --check  # exit 1 listing files that drifted from the models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, create_model

from schemas.envelope import CloudEvent
from schemas.published import (
    ALERT_PAYLOADS,
    ALERTS_SOURCE,
    PUBLISHED_TYPES,
    SEGMENTS_SOURCE,
    PublishedEvent,
    dataschema,
)
from schemas.registry import EVENT_TYPES

SCHEMA_DIR = Path(__file__).parent / "json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def ingested_event(event_type: str) -> type[BaseModel]:
    """The whole CloudEvent of an ingested type, as upstream systems send it."""
    payload = EVENT_TYPES[event_type]
    return create_model(
        payload.__name__ + "Event",
        __base__=CloudEvent,
        __doc__=(payload.__doc__ or event_type).strip(),
        type=(Literal[event_type], ...),  # type: ignore[valid-type]
        data=(payload, ...),
    )


def published_event(event_type: str) -> type[BaseModel]:
    """The whole CloudEvent of a published type, as receivers get it."""
    payload = PUBLISHED_TYPES[event_type]
    source = ALERTS_SOURCE if event_type in ALERT_PAYLOADS else SEGMENTS_SOURCE
    return create_model(
        payload.__name__ + "Event",
        __base__=PublishedEvent,
        __doc__=(payload.__doc__ or event_type).strip(),
        type=(Literal[event_type], ...),  # type: ignore[valid-type]
        source=(Literal[source], ...),  # type: ignore[valid-type]
        dataschema=(Literal[dataschema(event_type)], ...),  # type: ignore[valid-type]
        data=(payload, ...),
    )


def event_models() -> dict[str, type[BaseModel]]:
    """Every wire type, ingested and published, and the model of its whole CloudEvent."""
    return {**{t: ingested_event(t) for t in EVENT_TYPES},
            **{t: published_event(t) for t in PUBLISHED_TYPES}}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: the envelope, and the whole CloudEvent of each type."""
    schemas = {"cloudevent.json": CloudEvent.model_json_schema()}
    for event_type, model in event_models().items():
        schema = model.model_json_schema()
        schema["$id"] = dataschema(event_type)
        schemas[f"{event_type}.json"] = schema
    for schema in schemas.values():
        schema["$schema"] = _DIALECT
    return schemas


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_json_schemas(directory: Path = SCHEMA_DIR, *, prune: bool = True) -> list[Path]:
    """Write every schema into ``directory`` and (``prune``) remove stale ones; returns the
    files written. A directory of someone else's (``crm-timeline schemas export DIR``) is
    not pruned: its other files are not ours to delete.

    Keys are sorted and the text ends in a newline, so an unchanged model gives
    a byte-identical file and a diff shows only real contract changes.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    wanted = json_schemas()
    for stale in set(p.name for p in directory.glob("*.json")) - set(wanted) if prune else ():
        (directory / stale).unlink()
    for name, schema in wanted.items():
        path = directory / name
        path.write_text(_render(schema))
        written.append(path)
    return written


def schema_drift(directory: Path = SCHEMA_DIR) -> list[str]:
    """Files that are missing, extra, or differ from what the models export now."""
    wanted = {name: _render(schema) for name, schema in json_schemas().items()}
    present = {p.name: p.read_text() for p in directory.glob("*.json")}
    drift = [f"missing {name}" for name in sorted(set(wanted) - set(present))]
    drift += [f"extra {name}" for name in sorted(set(present) - set(wanted))]
    drift += [f"differs {name}" for name in sorted(set(wanted) & set(present))
              if wanted[name] != present[name]]
    return drift


def main() -> int:
    parser = argparse.ArgumentParser(description="Export the event JSON Schemas.")
    parser.add_argument("--check", action="store_true", help="only report drift")
    args = parser.parse_args()
    if args.check:
        drift = schema_drift()
        for line in drift:
            print(line)
        if drift:
            print("the JSON Schemas drifted from the models: run `python -m schemas.export`")
        return 1 if drift else 0
    for path in export_json_schemas():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
