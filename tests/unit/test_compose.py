"""docker-compose.yml is valid Compose and refers only to things that exist.

No Docker engine runs where the tests run, so the file is checked statically:
against the Compose specification's JSON Schema (``tests/fixtures/compose-spec.json``,
compose_spec.json from the docker-compose 1.29.2 package on PyPI, Apache-2.0),
and against this repository: build contexts, CLI commands, settings, COPY sources.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service.cli import build_parser
from service.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.unit

SCHEMA = json.loads((Path(__file__).parent.parent / "fixtures" / "compose-spec.json").read_text())


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(document)]


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert errors(compose()) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c["services"]["api"].update(ports="8080"),
        lambda c: c.update(servces={}),
        lambda c: c["services"]["api"].update(depends_on={"kafka": {"condition": "whenever"}}),
    ],
)
def test_the_schema_check_catches_a_broken_file(breakage: Any) -> None:
    broken = copy.deepcopy(compose())
    breakage(broken)
    assert errors(broken)


def test_references_point_at_things_that_exist() -> None:
    document = compose()
    services = document["services"]
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    settings = {f"CRM_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        if "build" in service:
            assert (REPO_ROOT / service["build"] / "Dockerfile").is_file(), name
            command = service["command"]
            assert command[0] == "crm-timeline" and command[1] in subcommands, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for variable in service.get("environment", {}):
            if variable.startswith("CRM_"):
                assert variable in settings, f"{name} sets unknown {variable}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in document.get("volumes", {}), f"{name} uses undeclared {source}"


def test_the_dockerfile_copies_only_what_exists() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, flags=re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
    packages = {p.rstrip("*") for p in re.findall(r'"(\w+)\*"', (REPO_ROOT / "pyproject.toml").read_text())}
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.MULTILINE))
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
