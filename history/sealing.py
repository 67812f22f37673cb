"""Crypto-shredding: a customer's personal fields are stored sealed under the customer's own key.

The history is append-only, so erasure (SPEC §5) cannot delete the personal
fields of stored facts. Instead each stored fact keeps them in one AES-GCM box
under a key that belongs to the customer alone; erasure destroys the key, and
every copy of the box, in the store and in any backup, becomes noise at once. A
fact read back without its key has those fields set to null.

The box sits in the fact's ``data`` under :data:`SEALED` with the names of the
fields it holds (field names are not personal), so a reader knows which
fields an erasure took. The fact's event id is the associated data: a box
cannot be moved to another fact unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal_data import Path, copy_along, has_field, pop_field, put_field

#: The key in a stored fact's ``data`` that holds its sealed personal fields.
SEALED = "_sealed"


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
    found = [path for path in paths if has_field(data, path)]
    if not found:
        return dict(data)
    sealed = copy_along(data, found)
    values = [pop_field(sealed, path) for path in found]
    box = None
    if key is not None:
        nonce = os.urandom(12)
        plain = _json(values)
        box = base64.b64encode(nonce + key.cipher.encrypt(nonce, plain, event_id.encode()))
    sealed[SEALED] = {"fields": [".".join(p) for p in found],
                      "box": box.decode() if box else None}
    return sealed


def _json(values: list[Any]) -> bytes:
    """``values`` as compact JSON: orjson, a fifth of the cost of ``json.dumps`` (ingestion
    profile), or the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(values)
    except TypeError:
        return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


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
        put_field(data, path, value)
