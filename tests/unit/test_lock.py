"""requirements.lock agrees with pyproject.toml and keeps out known-vulnerable versions.

``scripts/env.sh`` and the Dockerfile install the lock (``pip install --require-hashes``)
and then the project without resolving again, so pyproject's ranges are not checked at
install time: this is where a lock that drifted from them is caught. ``scripts/lock``
regenerates it.

* every direct dependency (runtime and the ``test`` extra) is pinned, at a version its
  specifier in pyproject admits;
* every line is an exact ``name==version`` pin with at least one sha256 hash;
* the floors that exclude known vulnerabilities hold, both in pyproject and in the lock.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from service.settings import REPO_ROOT

pytestmark = pytest.mark.unit

PYPROJECT_FILE = REPO_ROOT / "pyproject.toml"
LOCK_FILE = REPO_ROOT / "requirements.lock"
EXTRAS = ("test",)  # the extras the lock covers (scripts/lock: --extra test)

# The first versions without the known vulnerabilities (issue 13, "Dependencies").
SAFE_FLOORS = {"starlette": "1.5.1", "cryptography": "46.0.7", "orjson": "3.11.6"}

HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


@dataclass(frozen=True)
class Pin:
    line: str
    requirement: Requirement
    hashes: int

    @property
    def version(self) -> Version | None:
        """The pinned version, or None when the line is no single exact ``==`` pin."""
        specifiers = list(self.requirement.specifier)
        if (
            len(specifiers) == 1
            and specifiers[0].operator == "=="
            and "*" not in str(specifiers[0])
        ):
            return Version(specifiers[0].version)
        return None


def lock_entries(text: str) -> tuple[dict[str, Pin], list[str]]:
    """The lock's pins by canonical name, and its problems as a lock file of its own."""
    pins: dict[str, Pin] = {}
    problems = []
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.split(" #", 1)[0].strip()  # a trailing comment
        if line.startswith("-"):
            problems.append(f"an option line; the lock holds only pinned packages: {line}")
            continue
        requirement_text = HASH.sub("", line).strip()
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as error:
            problems.append(f"not a requirement: {requirement_text!r} ({error})")
            continue
        pin = Pin(requirement_text, requirement, len(HASH.findall(line)))
        name = canonicalize_name(requirement.name)
        if name in pins:
            problems.append(f"{name} is pinned twice")
        pins[name] = pin
        if pin.version is None:
            problems.append(f"{requirement_text}: not an exact name==version pin")
        if pin.hashes == 0:
            problems.append(f"{requirement_text}: no --hash=sha256:")
    return pins, problems


def direct_requirements(pyproject_text: str) -> list[Requirement]:
    """pyproject's runtime dependencies and those of the extras the lock covers."""
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return [
        r
        for r in requirements
        if r.marker is None or any(r.marker.evaluate({"extra": extra}) for extra in EXTRAS)
    ]


def drift(pyproject_text: str, lock_text: str) -> list[str]:
    """Everything that makes the lock disagree with pyproject, one line each."""
    pins, problems = lock_entries(lock_text)
    for requirement in direct_requirements(pyproject_text):
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement}: not pinned in requirements.lock")
        elif pin.version is not None and not requirement.specifier.contains(
            pin.version, prereleases=True
        ):
            problems.append(f"{requirement}: the lock pins {pin.line}")
    return problems


def floor_violations(pyproject_text: str, lock_text: str) -> list[str]:
    """Safe floors missing from pyproject, or broken by the locked version."""
    requirements = {canonicalize_name(r.name): r for r in direct_requirements(pyproject_text)}
    pins, _ = lock_entries(lock_text)
    problems = []
    for name, floor in SAFE_FLOORS.items():
        safe = Version(floor)
        requirement = requirements.get(name)
        if requirement is None:
            problems.append(f"pyproject.toml does not name {name} (floor {floor})")
        elif not any(
            s.operator in {">=", ">", "==", "~=", "==="} and Version(s.version) >= safe
            for s in requirement.specifier
        ):
            problems.append(f"pyproject.toml: {requirement} admits versions below {floor}")
        pin = pins.get(name)
        if pin is None or pin.version is None:
            problems.append(f"requirements.lock does not pin {name}")
        elif pin.version < safe:
            problems.append(f"requirements.lock: {pin.line} is below {floor}")
    return problems


def pyproject() -> str:
    return PYPROJECT_FILE.read_text()


def lock() -> str:
    return LOCK_FILE.read_text()


# --- the files as they are -----------------------------------------------------------------


def test_the_lock_pins_every_direct_dependency_within_pyproject() -> None:
    assert drift(pyproject(), lock()) == []


def test_the_lock_keeps_out_the_known_vulnerable_versions() -> None:
    assert floor_violations(pyproject(), lock()) == []


def test_the_lock_says_how_to_regenerate_it() -> None:
    header = []
    for line in lock().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# "))
    assert "scripts/lock" in header, "\n".join(header)


def test_the_parser_sees_every_pin() -> None:
    pins, _ = lock_entries(lock())
    assert len(pins) == lock().count("==") > len(direct_requirements(pyproject()))


# --- the checks catch what they are for ----------------------------------------------------


def repin(name: str, version: str) -> Callable[[str, str], tuple[str, str]]:
    def edit(pyproject_text: str, lock_text: str) -> tuple[str, str]:
        edited, count = re.subn(rf"(?m)^{name}==\S+", f"{name}=={version}", lock_text)
        assert count == 1, f"{name} is not pinned on a line of its own"
        return pyproject_text, edited

    return edit


def pinned_with_hashes(name: str) -> str:
    """A pattern for a pin as pip-compile writes it: group 1 the pin, then its hash lines."""
    return rf"(?m)^({name}==\S+) \\\n(?:    --hash=\S+ \\\n)*    --hash=\S+\n"


def drop(name: str) -> Callable[[str, str], tuple[str, str]]:
    def edit(pyproject_text: str, lock_text: str) -> tuple[str, str]:
        edited, count = re.subn(pinned_with_hashes(name), "", lock_text)
        assert count == 1, f"{name} with its hashes not found"
        return pyproject_text, edited

    return edit


def unhash(name: str) -> Callable[[str, str], tuple[str, str]]:
    def edit(pyproject_text: str, lock_text: str) -> tuple[str, str]:
        edited, count = re.subn(pinned_with_hashes(name), r"\1\n", lock_text)
        assert count == 1, f"{name} with its hashes not found"
        return pyproject_text, edited

    return edit


def in_pyproject(old: str, new: str) -> Callable[[str, str], tuple[str, str]]:
    def edit(pyproject_text: str, lock_text: str) -> tuple[str, str]:
        assert old in pyproject_text, f"{old!r} not in pyproject.toml"
        return pyproject_text.replace(old, new), lock_text

    return edit


def append_to_lock(line: str) -> Callable[[str, str], tuple[str, str]]:
    return lambda pyproject_text, lock_text: (pyproject_text, lock_text + line + "\n")


DRIFTS: dict[str, Callable[[str, str], tuple[str, str]]] = {
    "runtime dependency missing": drop("fastapi"),
    "test extra dependency missing": drop("hypothesis"),
    "pin outside the range": repin("pydantic", "3.0.0"),
    "pin below the floor of a test dependency": repin("pytest", "8.4.0"),
    "new dependency not locked": in_pyproject(
        '"tqdm>=4.70,<5",', '"tqdm>=4.70,<5",\n    "tabulate>=0.9",'
    ),
    "range moved past the pin": in_pyproject('"uvicorn>=0.54,<1"', '"uvicorn>=0.99,<1"'),
    "pin without a hash": unhash("orjson"),
    "range instead of a pin": append_to_lock("rich>=13 --hash=sha256:" + "0" * 64),
    "option line": append_to_lock("-e ."),
}


@pytest.mark.parametrize("breakage", DRIFTS.values(), ids=DRIFTS.keys())
def test_the_drift_check_catches_a_broken_lock(
    breakage: Callable[[str, str], tuple[str, str]],
) -> None:
    assert drift(*breakage(pyproject(), lock()))


VULNERABLE: dict[str, Callable[[str, str], tuple[str, str]]] = {
    "starlette locked below 1.5.1": repin("starlette", "1.5.0"),
    "cryptography locked below 46.0.7": repin("cryptography", "46.0.6"),
    "orjson locked below 3.11.6": repin("orjson", "3.11.5"),
    "starlette floor gone": in_pyproject('"starlette>=1.5.1,<2"', '"starlette<2"'),
    "cryptography floor lowered": in_pyproject('"cryptography>=46.0.7', '"cryptography>=46.0.5'),
    "orjson floor lowered": in_pyproject('"orjson>=3.11.6', '"orjson>=3.11'),
}


@pytest.mark.parametrize("breakage", VULNERABLE.values(), ids=VULNERABLE.keys())
def test_the_floor_check_catches_a_vulnerable_version(
    breakage: Callable[[str, str], tuple[str, str]],
) -> None:
    assert floor_violations(*breakage(pyproject(), lock()))
