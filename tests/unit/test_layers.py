"""The layers: what each folder may import, checked over the import graph.

Dependencies point inward: the pure rules (``domain/``) import only the standard
library; the wire contract (``schemas/``) only pydantic; the history application
(``history/``) the rules and the event-sourcing library; adapters and read models
never each other's entry points; only the composition root (``service/``) knows
everything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from service.settings import REPO_ROOT

pytestmark = pytest.mark.unit

FIRST_PARTY = {"domain", "schemas", "history", "storage", "consumers", "projections", "api",
               "outbox", "operations", "generators", "access", "messaging", "service"}
#: First-party packages each one must not import.
FORBIDDEN = {
    "domain": FIRST_PARTY - {"domain"},
    "schemas": FIRST_PARTY - {"schemas"},
    "history": FIRST_PARTY - {"history", "domain"},
    "storage": FIRST_PARTY - {"storage", "history", "domain"},
    "messaging": FIRST_PARTY - {"messaging"},
    "consumers": {"projections", "api", "outbox", "operations", "generators", "access", "service"},
    "projections": {"consumers", "api", "outbox", "operations", "generators", "access", "service"},
    "outbox": {"consumers", "api", "operations", "generators", "access", "service"},
    "access": {"consumers", "projections", "api", "outbox", "operations", "generators", "service"},
    "api": {"consumers", "outbox", "generators", "service"},
    "operations": {"api", "outbox", "generators", "service"},
    "generators": {"projections", "api", "outbox", "operations", "access", "service"},
}
#: Third-party packages the pure domain may not import: all of them.
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level names each module of ``package`` imports."""
    found: dict[str, set[str]] = {}
    for module in sorted((REPO_ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(module.relative_to(REPO_ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_lies_inward(package: str) -> None:
    assert (REPO_ROOT / package).is_dir(), f"{package}/ is gone: update FORBIDDEN"
    wrong = {module: sorted(names & FORBIDDEN[package])
             for module, names in imports_of(package).items() if names & FORBIDDEN[package]}
    assert not wrong, f"{package}/ imports what lies outward: {wrong}"


def test_the_domain_imports_only_the_standard_library() -> None:
    wrong = {module: sorted(names - STDLIB - {"domain"})
             for module, names in imports_of("domain").items() if names - STDLIB - {"domain"}}
    assert not wrong, f"domain/ imports more than the standard library: {wrong}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "rules.py").write_text("import psycopg\nfrom service import bootstrap\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert imports_of("domain") == {"domain/rules.py": {"psycopg", "service"}}
