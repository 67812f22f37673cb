"""docker-compose.yml is valid Compose and refers only to things that exist.

No Docker engine runs where the tests run, so the files are checked statically:

* against the Compose Specification's JSON Schema, ``tests/fixtures/compose-spec.json``:
  the compose-spec project's ``schema/compose-spec.json`` (revision of 2025-07-20) as
  bundled unchanged in the npm package ``dclint`` 3.1.0 (``schemas/compose.schema.json``);
  Copyright The Compose Specification Authors, Apache-2.0 (see ``tests/fixtures/README.md``);
* against this repository: build contexts and their Dockerfiles, ``crm-timeline``
  subcommands (from ``service.cli.build_parser``), ``CRM_*`` settings (from
  ``service.settings.Settings``), named volumes, ``depends_on`` targets, COPY sources.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.unit

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "compose-spec.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
CLI = "crm-timeline"


def compose() -> dict[str, Any]:
    """The compose file as Compose sees it: anchors and ``<<`` merges resolved."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    # The schema declares draft-07; name the validator rather than rely on "$schema",
    # whose spelling there (https, no '#') jsonschema does not recognise.
    validator = jsonschema.Draft7Validator(
        SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def cli_subcommands() -> set[str]:
    from service.cli import build_parser

    parser = build_parser()
    # argparse has no public accessor for the subcommands.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("build_parser() has no subcommands")


def setting_variables() -> set[str]:
    return {f"CRM_{name.upper()}" for name in Settings.model_fields}


def as_words(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def environment_names(environment: dict[str, Any] | list[str] | None) -> list[str]:
    if isinstance(environment, dict):
        return list(environment)
    return [item.split("=", 1)[0] for item in environment or []]


def build_context(build: str | dict[str, Any]) -> tuple[Path, str]:
    if isinstance(build, str):
        return REPO_ROOT / build, "Dockerfile"
    return REPO_ROOT / build.get("context", "."), build.get("dockerfile", "Dockerfile")


def named_volume(volume: str | dict[str, Any]) -> str | None:
    """The named volume a service's volume entry uses, or None for binds and tmpfs."""
    if isinstance(volume, dict):
        return volume.get("source") if volume.get("type", "volume") == "volume" else None
    source, sep, _ = volume.partition(":")
    if not sep or source.startswith((".", "/", "~", "$")):
        return None  # an anonymous volume or a bind mount
    return source


def dockerfile_instructions(path: Path) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined; exec form
    (a JSON array, as in ``CMD ["a", "b"]``) and shell form alike."""
    text = re.sub(r"\\\n", " ", path.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            arguments = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            instructions.append((keyword.upper(), arguments))
    return instructions


def dockerfile_env_names(path: Path) -> set[str]:
    names = set()
    for keyword, arguments in dockerfile_instructions(path):
        if keyword == "ENV":
            if "=" in arguments[0]:
                names.update(argument.split("=", 1)[0] for argument in arguments)
            else:  # legacy "ENV NAME value"
                names.add(arguments[0])
    return names


def built_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


# --- the Compose specification ------------------------------------------------------------


def test_the_vendored_schema_is_a_valid_draft07_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == "Compose Specification"


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "ports as a string": lambda c: c["services"]["api"].update(ports="8080"),
    "unknown top-level key": lambda c: c.update(servces={}),
    "unknown service key": lambda c: c["services"]["api"].update(restart_policy="always"),
    "unknown depends_on condition": lambda c: c["services"]["api"].update(
        depends_on={"kafka": {"condition": "whenever"}}
    ),
    "healthcheck interval as a number": lambda c: c["services"]["kafka"]["healthcheck"].update(
        interval=5
    ),
    "environment as a string": lambda c: c["services"]["consumer"].update(
        environment="CRM_STORE=postgres"
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_the_schema_check_catches_a_broken_file(
    breakage: Callable[[dict[str, Any]], None],
) -> None:
    broken = copy.deepcopy(compose())
    breakage(broken)
    assert schema_errors(broken)


# --- references into this repository ----------------------------------------------------


def test_there_is_no_obsolete_version_key() -> None:
    assert "version" not in compose()


def test_every_build_context_has_its_dockerfile() -> None:
    services = built_services()
    assert services, "no service is built from this repository"
    for name, service in services.items():
        context, dockerfile = build_context(service["build"])
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert (context / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}"


def test_every_command_is_a_real_cli_subcommand() -> None:
    subcommands = cli_subcommands()
    for name, service in built_services().items():
        words = as_words(service.get("command", []))
        assert len(words) >= 2 and words[0] == CLI, f"{name}: command {words} is not {CLI} ..."
        assert words[1] in subcommands, f"{name}: {CLI} has no subcommand {words[1]!r}"
    for keyword, arguments in dockerfile_instructions(REPO_ROOT / "Dockerfile"):
        if keyword == "CMD":
            assert arguments[:1] == [CLI] and arguments[1] in subcommands, f"CMD {arguments}"


def test_every_dependency_is_a_service() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_every_named_volume_is_declared() -> None:
    document = compose()
    declared = document.get("volumes") or {}
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = named_volume(volume)
            if source is not None:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_every_crm_variable_is_a_real_setting() -> None:
    settings = setting_variables()
    for name, service in compose()["services"].items():
        for variable in environment_names(service.get("environment")):
            if variable.startswith("CRM_"):
                assert variable in settings, f"{name} sets unknown setting {variable}"
    for variable in dockerfile_env_names(REPO_ROOT / "Dockerfile"):
        if variable.startswith("CRM_"):
            assert variable in settings, f"Dockerfile sets unknown setting {variable}"


def test_the_api_port_is_the_one_the_api_listens_on() -> None:
    api = compose()["services"]["api"]
    default = Settings.model_fields["api_port"].default
    port = dict(api.get("environment") or {}).get("CRM_API_PORT", default)
    published = [str(p).rsplit(":", 1)[-1] for p in api.get("ports", [])]
    assert str(port) in published, f"api publishes {published}, listens on {port}"
    instructions = dockerfile_instructions(REPO_ROOT / "Dockerfile")
    exposed = [argument for k, arguments in instructions if k == "EXPOSE" for argument in arguments]
    assert str(port) in exposed, f"Dockerfile exposes {exposed}, the API listens on {port}"


def test_the_dockerfile_copies_only_what_exists_and_every_package() -> None:
    copied = set()
    for keyword, arguments in dockerfile_instructions(REPO_ROOT / "Dockerfile"):
        if keyword != "COPY" or any(a.startswith("--from") for a in arguments):
            continue
        *sources, _destination = [a for a in arguments if not a.startswith("--")]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file or directory"
            copied.add(source.rstrip("/"))
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in included}
    if "." not in copied:
        assert packages <= copied, f"packages not copied into the image: {packages - copied}"


def test_the_image_does_not_run_as_root() -> None:
    instructions = dockerfile_instructions(REPO_ROOT / "Dockerfile")
    users = [arguments[0] for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, f"last USER is {users[-1:] or 'unset'}"


# --- safe by default ------------------------------------------------------------------------

#: ``${NAME:?message}``: Compose refuses to start when NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*):\?[^}]+\}")


def published(port: str | int | dict[str, Any]) -> tuple[str | None, str]:
    """(host address, host port) of a ``ports`` entry; no address: every interface."""
    if isinstance(port, dict):
        return port.get("host_ip"), str(port.get("published", port.get("target")))
    parts = str(port).split(":")
    if len(parts) == 3:
        return parts[0], parts[1]
    return None, parts[0]


def test_published_ports_listen_on_this_machine_only() -> None:
    ports = {name: [published(p) for p in service.get("ports", [])]
             for name, service in compose()["services"].items()}
    assert {"kafka", "postgres", "api"} <= {name for name, found in ports.items() if found}
    for name, found in ports.items():
        for address, port in found:
            assert address == "127.0.0.1", f"{name} publishes port {port} on {address or 'every interface'}"


def test_the_loopback_check_catches_a_port_on_every_interface() -> None:
    assert published("55432:5432") == (None, "55432")
    assert published({"target": 5432, "published": "55432"}) == (None, "55432")
    assert published("127.0.0.1:8080:8080") == ("127.0.0.1", "8080")


def test_the_database_password_is_a_required_variable_shared_by_every_container() -> None:
    services = compose()["services"]
    passwords = {"postgres": services["postgres"]["environment"]["POSTGRES_PASSWORD"]}
    for name, service in built_services().items():
        passwords[name] = dict(service["environment"])["CRM_POSTGRES_PASSWORD"]
    for name, value in passwords.items():
        required = REQUIRED_VARIABLE.fullmatch(str(value))
        assert required and required["name"] == "CRM_POSTGRES_PASSWORD", (
            f"{name}: the password is {value!r}, not ${{CRM_POSTGRES_PASSWORD:?...}}")
    assert not REQUIRED_VARIABLE.fullmatch("crm")
    assert not REQUIRED_VARIABLE.fullmatch("${CRM_POSTGRES_PASSWORD:-crm}")  # a default: not required
