"""The Python client's events (``client/``) are the service's contract: generated from
``schemas/json/``, built and refused as the service builds and refuses them."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from crm_timeline_client import EVENT_TYPES, InvalidEvent, builders, validate
from crm_timeline_client import types as client_types

from schemas import fields
from schemas.client_models import SCHEMA_DIR, TARGET_DIR, UnsupportedSchema, render, stale_files
from schemas.examples import EXAMPLES
from schemas.registry import EVENT_TYPES as SERVICE_TYPES
from schemas.validation import InvalidEvent as ServiceInvalid
from schemas.validation import parse_event

pytestmark = pytest.mark.unit



def service_reason(event: dict[str, Any]) -> str | None:
    """The service's reason for refusing ``event`` (None: it accepts it)."""
    try:
        parse_event(event, now=datetime.now(UTC), max_future=timedelta(days=1))
    except ServiceInvalid as error:
        return error.reason
    return None


def client_reason(event: dict[str, Any]) -> str | None:
    try:
        validate(event)
    except InvalidEvent as error:
        return error.reason
    return None


def builder_of(event_type: str) -> Any:
    return getattr(builders, event_type.removeprefix("crm.").replace(".", "_"))


def test_the_generated_modules_are_what_the_json_schemas_give_now() -> None:
    assert stale_files() == [], "run `python -m schemas.client_models`"


def test_the_staleness_check_sees_a_contract_change(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "json")
    path = tmp_path / "json" / "crm.contact.logged.json"
    schema = json.loads(path.read_text())
    schema["$defs"]["Outcome"]["enum"].append("pigeon")
    path.write_text(json.dumps(schema))
    assert stale_files(TARGET_DIR, tmp_path / "json") == ["events.py"]
    assert "pigeon = 'pigeon'" in render(tmp_path / "json")["events.py"]


def test_a_construct_the_generator_lacks_stops_it(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "json")
    path = tmp_path / "json" / "crm.order.placed.json"
    schema = json.loads(path.read_text())
    schema["$defs"]["OrderItem"]["properties"]["quantity"]["multipleOf"] = 2
    path.write_text(json.dumps(schema))
    with pytest.raises(UnsupportedSchema, match=r"OrderItem.quantity: cannot generate \['multipleOf'\]"):
        render(tmp_path / "json")


def test_a_cross_field_rule_without_its_reason_stops_the_generator(tmp_path: Path) -> None:
    shutil.copytree(SCHEMA_DIR, tmp_path / "json")
    path = tmp_path / "json" / "crm.survey.answered.json"
    schema = json.loads(path.read_text())
    del schema["$defs"]["SurveyAnswered"]["allOf"][0]["description"]
    path.write_text(json.dumps(schema))
    with pytest.raises(UnsupportedSchema, match="SurveyAnswered: a rule without a description"):
        render(tmp_path / "json")


def test_every_type_the_service_ingests_has_a_model_and_a_builder() -> None:
    assert sorted(EVENT_TYPES) == sorted(SERVICE_TYPES)
    assert all(callable(builder_of(t)) for t in SERVICE_TYPES)
    assert (client_types.MONEY_PATTERN, client_types.RFC3339_PATTERN) == (
        fields.MONEY_PATTERN, fields.RFC3339_PATTERN)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_example_builds_to_itself_and_the_service_accepts_it(event_type: str) -> None:
    example = EXAMPLES[event_type]
    built = builder_of(event_type)(example["subject"], source=example["source"],
                                   event_id=example["id"], time=example["time"], **example["data"])
    assert built.to_dict() == example
    assert validate(example).to_dict() == example
    assert service_reason(built.to_dict()) is None


def test_builders_take_python_values_and_fill_in_id_and_time() -> None:
    before = datetime.now(UTC)
    event = builders.order_placed("C-1", source="crm/web-shop", order_id="O-1",
                                  amount=Decimal("12.5"), currency="EUR",
                                  items=[{"sku": "S", "name": "Beans", "quantity": 2,
                                          "unit_price": Decimal("6.25")}])
    wire = event.to_dict()
    assert wire["data"]["amount"] == "12.5" and wire["data"]["items"][0]["unit_price"] == "6.25"
    assert event.time >= before and len(wire["id"]) == 36
    assert builders.order_placed("C-1", source="s", order_id="O-1", amount="1.00",
                                 currency="EUR").id != event.id  # a fresh id each time
    assert service_reason(wire) is None
    # Absent and null differ in a profile change: null clears the field.
    changed = builders.account_updated("C-1", source="s", changes={"address": None}).to_dict()
    assert changed["data"] == {"changes": {"address": None}}


def test_extension_attributes_travel_and_bad_ones_are_refused_as_the_service_refuses_them() -> None:
    traced = builders.contact_logged("C-1", source="s", channel="phone", direction="inbound",
                                     extensions={"traceparent": "00-4bf92f3577b34da6-00f067aa0ba902b7-01"})
    assert traced.to_dict()["traceparent"].startswith("00-")
    assert service_reason(traced.to_dict()) is None
    bad = {**EXAMPLES["crm.contact.logged"], "TraceParent": "x"}
    assert client_reason(bad) == service_reason(bad)
    assert "lower-case letters" in str(client_reason(bad))


def mutated(event_type: str, *, remove: str | None = None, **changes: Any) -> dict[str, Any]:
    """The example with attributes changed (``data__x`` changes data field x)."""
    event = copy.deepcopy(EXAMPLES[event_type])
    for name, value in changes.items():
        if name.startswith("data__"):
            event["data"][name.removeprefix("data__")] = value
        else:
            event[name] = value
    if remove:
        target = event["data"] if remove.startswith("data.") else event
        del target[remove.removeprefix("data.")]
    return event


#: Refused with exactly the service's words.
SAME_REASON = {
    "empty subject": mutated("crm.order.placed", subject=""),
    "no id": mutated("crm.order.placed", remove="id"),
    "old spec": mutated("crm.order.placed", specversion="0.3"),
    "naive time": mutated("crm.order.placed", time="2026-11-20T14:05:00"),
    "before 1900": mutated("crm.order.placed", time="1850-01-01T00:00:00Z"),
    "unknown type": mutated("crm.order.placed", type="crm.order.exploded"),
    "xml content": mutated("crm.order.placed", datacontenttype="application/xml"),
    "negative amount": mutated("crm.order.placed", data__amount="-1.00"),
    "amount as number": mutated("crm.order.placed", data__amount=12.5),
    "three decimals": mutated("crm.order.refunded", data__amount="1.005"),
    "lower-case currency": mutated("crm.order.placed", data__currency="eur"),
    "unknown channel": mutated("crm.contact.logged", data__channel="fax"),
    "duration as text": mutated("crm.contact.logged", data__duration_seconds="245"),
    "missing field": mutated("crm.contact.logged", remove="data.direction"),
    "unknown field": mutated("crm.contact.logged", data__mood="grumpy"),
    "nps out of range": mutated("crm.survey.answered", data__nps=11),
    "bad e-mail": mutated("crm.account.opened", data__email="greta"),
    "two lines in a name": mutated("crm.account.opened", data__name="Greta\nNovak"),
    "merged with itself": mutated("crm.account.merged", data__duplicate_customer_id="C-10042"),
    "consent as text": mutated("crm.account.consent_changed", data__granted="yes"),
    "many problems": mutated("crm.order.placed", subject="", source="", id="", time="x"),
    # Cross-field rules: their JSON Schema states each one's reason (its description).
    "follow-up time without the outcome": mutated("crm.contact.logged",
                                                  data__follow_up_at="2026-11-21T09:00:00Z"),
    "social handle on the phone": mutated("crm.contact.logged", data__handle="@ada"),
    "a survey without a score": mutated("crm.survey.answered", data__nps=None, data__csat=None),
    "a profile change naming nothing": mutated("crm.account.updated", data__changes={}),
}


@pytest.mark.parametrize("case", sorted(SAME_REASON))
def test_an_invalid_event_is_refused_client_side_with_the_services_reason(case: str) -> None:
    event = SAME_REASON[case]
    expected = service_reason(event)
    assert expected is not None, "the service must refuse the case"
    assert client_reason(event) == expected


def test_a_builder_refuses_before_anything_travels() -> None:
    with pytest.raises(InvalidEvent) as refused:
        builders.complaint_opened("C-1", source="crm/ticketing", complaint_id="K-1",
                                  priority="whenever")
    assert refused.value.reason == ("data.priority: must be 'low', 'normal', 'high' or 'urgent' "
                                    "(got 'whenever')")
    with pytest.raises(InvalidEvent, match="has no UTC offset"):
        builders.complaint_resumed("C-1", source="s", complaint_id="K-1",
                                   time=datetime(2026, 11, 20, 14, 5))


CLIENT_SOURCE = TARGET_DIR


def test_the_client_imports_only_pydantic_httpx_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__", "pydantic", "httpx",
                                              "crm_timeline_client"}
    imported: dict[str, set[str]] = {}
    for module in sorted(CLIENT_SOURCE.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        imported[module.name] = names - allowed
    assert "events.py" in imported and "client.py" in imported
    assert all(not extra for extra in imported.values()), imported
