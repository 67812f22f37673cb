"""Crypto-shredding: a customer's personal data is stored sealed under the customer's own key.

SPEC §5: after an erasure request the personal fields (those the wire schema
marks personal: name, e-mail, phone, address, free-text summaries and comments)
must be unreadable everywhere, yet the history is append-only and counts and
amounts must stay. So each stored fact keeps its personal fields in one
AES-GCM box under a key that belongs to the customer alone; erasure destroys
the key, and every copy of the box, in the store and in any backup, becomes
noise at once. A fact read back without its key has those fields set to null.

The box sits in the fact's ``data`` under :data:`SEALED` with the names of the
fields it holds (field names are not personal), so a reader knows which
fields an erasure took. The fact's event id is the associated data: a box
cannot be moved to another fact unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: The key in a stored fact's ``data`` that holds its sealed personal fields.
SEALED = "_sealed"
ERASURE_REQUESTED = "crm.account.erasure_requested"

Path = tuple[str, ...]
#: The personal field paths of a wire type (``schemas.registry.personal_fields``).
PersonalFields = Callable[[str], tuple[Path, ...]]


class CustomerKey:
    """A customer's 256-bit key, with its cipher made once (making one per fact would
    cost more than the sealing)."""

    __slots__ = ("cipher", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.cipher = AESGCM(secret)


def new_key() -> CustomerKey:
    return CustomerKey(AESGCM.generate_key(bit_length=256))


def seal(data: Mapping[str, Any], paths: tuple[Path, ...], key: CustomerKey | None,
         event_id: str) -> dict[str, Any]:
    """``data`` with the personal fields present in it moved into a box under ``key``.

    Without a key (the customer was erased before this fact arrived) the fields
    are dropped and only their names kept: nothing personal is ever stored.
    """
    if not paths:
        return dict(data)
    found = [path for path in paths if _has(data, path)]
    if not found:
        return dict(data)
    sealed = _copy_along(data, found)
    values = [_pop(sealed, path) for path in found]
    box = None
    if key is not None:
        nonce = os.urandom(12)
        plain = json.dumps(values, separators=(",", ":")).encode()
        box = base64.b64encode(nonce + key.cipher.encrypt(nonce, plain, event_id.encode()))
    sealed[SEALED] = {"fields": [".".join(p) for p in found],
                      "box": box.decode() if box else None}
    return sealed


def unseal(data: dict[str, Any], key: CustomerKey | None, event_id: str) -> None:
    """Put the personal fields back into ``data`` (in place), or nulls if the key is gone."""
    sealed = data.pop(SEALED, None)
    if sealed is None:
        return
    paths = [tuple(name.split(".")) for name in sealed["fields"]]
    values: list[Any] = [None] * len(paths)
    if key is not None and sealed["box"] is not None:
        raw = base64.b64decode(sealed["box"])
        values = json.loads(key.cipher.decrypt(raw[:12], raw[12:], event_id.encode()))
    for path, value in zip(paths, values, strict=True):
        _put(data, path, value)


def blank(data: Mapping[str, Any], paths: tuple[Path, ...]) -> dict[str, Any]:
    """``data`` with its personal fields set to null: what an erased fact reads as."""
    found = [path for path in paths if _has(data, path)]
    blanked = _copy_along(data, found)
    for path in found:
        _put(blanked, path, None)
    return blanked


def _has(data: Mapping[str, Any], path: Path) -> bool:
    for name in path[:-1]:
        data = data.get(name)  # type: ignore[assignment]
        if not isinstance(data, Mapping):
            return False
    return path[-1] in data


def _copy_along(data: Mapping[str, Any], paths: list[Path]) -> dict[str, Any]:
    """A copy of ``data`` whose nested objects on ``paths`` are copies too (the caller's
    ``data`` stays untouched)."""
    copy = dict(data)
    for path in paths:
        node = copy
        for name in path[:-1]:
            node[name] = dict(node[name])
            node = node[name]
    return copy


def _pop(data: dict[str, Any], path: Path) -> Any:
    for name in path[:-1]:
        data = data[name]
    return data.pop(path[-1])


def _put(data: dict[str, Any], path: Path, value: Any) -> None:
    for name in path[:-1]:
        data = data.setdefault(name, {})
    data[path[-1]] = value
