"""The published JSON Schema files are exactly what the service accepts."""

from __future__ import annotations

import json

import jsonschema
import pytest

from schemas.examples import EXAMPLES
from schemas.export import SCHEMA_DIR, schema_drift

pytestmark = pytest.mark.unit


def test_committed_schema_files_match_the_models() -> None:
    drift = schema_drift()
    assert drift == [], f"schemas/json drifted from the models, run `python -m schemas.export`: {drift}"


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_each_example_validates_against_its_published_schema(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(EXAMPLES[event_type], schema, cls=jsonschema.Draft202012Validator)


def test_the_published_schema_rejects_a_negative_amount() -> None:
    schema = json.loads((SCHEMA_DIR / "crm.order.placed.json").read_text())
    event = json.loads(json.dumps(EXAMPLES["crm.order.placed"]))
    event["data"]["amount"] = "-5.00"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema, cls=jsonschema.Draft202012Validator)
