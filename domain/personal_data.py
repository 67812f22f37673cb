"""Personal data in a fact: where its personal fields are, and what an erased fact reads as.

SPEC §5: after an erasure request the personal fields (those the wire schema
marks personal: name, e-mail, phone, address, free-text summaries and comments)
must be unreadable everywhere, yet counts and amounts stay. Which fields are
personal is the wire contract's knowledge, handed in as ``PersonalFields``
(``schemas.registry.personal_fields``); how they are sealed in the store is the
history's (``history/sealing.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

ERASURE_REQUESTED = "crm.account.erasure_requested"

Path = tuple[str, ...]
#: The personal field paths of a wire type (``schemas.registry.personal_fields``).
PersonalFields = Callable[[str], tuple[Path, ...]]


def blank(data: Mapping[str, Any], paths: tuple[Path, ...]) -> dict[str, Any]:
    """``data`` with its personal fields set to null: what an erased fact reads as."""
    found = [path for path in paths if has_field(data, path)]
    blanked = copy_along(data, found)
    for path in found:
        put_field(blanked, path, None)
    return blanked


def has_field(data: Mapping[str, Any], path: Path) -> bool:
    for name in path[:-1]:
        data = data.get(name)  # type: ignore[assignment]
        if not isinstance(data, Mapping):
            return False
    return path[-1] in data


def copy_along(data: Mapping[str, Any], paths: list[Path]) -> dict[str, Any]:
    """A copy of ``data`` whose nested objects on ``paths`` are copies too (the caller's
    ``data`` stays untouched)."""
    copy = dict(data)
    for path in paths:
        node = copy
        for name in path[:-1]:
            node[name] = dict(node[name])
            node = node[name]
    return copy


def pop_field(data: dict[str, Any], path: Path) -> Any:
    for name in path[:-1]:
        data = data[name]
    return data.pop(path[-1])


def put_field(data: dict[str, Any], path: Path, value: Any) -> None:
    for name in path[:-1]:
        data = data.setdefault(name, {})
    data[path[-1]] = value
