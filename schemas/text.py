"""The character rules every text from outside obeys (SPEC §2), in one place.

PostgreSQL cannot store NUL in ``text`` or ``jsonb``, no UTF-8 encoder can
write a lone surrogate (which JSON's ``\\ud800`` escape can produce), and other
C0 control characters break logs, CSV cells and terminals. So no text the
service takes in (CloudEvent attributes, payload strings and keys, Kafka
headers it reads, HTTP query and path parameters) may hold them:

* single-line text (ids, names, codes, attribute values): no C0 control
  character at all (U+0000 to U+001F);
* free text (summaries, comments, reasons, addresses): tab and newline are
  allowed, the other C0 characters are not;
* any text: no lone surrogate (U+D800 to U+DFFF).

Text is taken in Unicode NFC (``nfc_strings``), so that the same id typed on two
keyboards (a precomposed ``é`` or ``e`` plus a combining accent) is one id, and a
name is stored one way whatever keyboard typed it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: What may not appear in free text; single-line text refuses tab and newline too.
_FORBIDDEN_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_FORBIDDEN_IN_LINE = re.compile(r"[\x00-\x1f\ud800-\udfff]")

#: JSON Schema (ECMA-262) patterns of the same rules, for the published schemas.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f]*$"
FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f]*$"

_NAMES = {0: "NUL", 9: "tab", 10: "newline", 13: "carriage return", 27: "escape"}


def describe_character(character: str) -> str:
    """``U+0000 (NUL)``: how a reason names a character a sender cannot see."""
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        return f"U+{code:04X} (a lone surrogate, not a character)"
    name = _NAMES.get(code, "a control character")
    return f"U+{code:04X} ({name})"


def text_problem(value: str, *, free_text: bool = False) -> str | None:
    """Why ``value`` breaks the rules above (None: it does not), naming the character
    and where it is: ``contains U+0000 (NUL) at character 4``."""
    found = (_FORBIDDEN_IN_FREE_TEXT if free_text else _FORBIDDEN_IN_LINE).search(value)
    if found is None:
        return None
    return f"contains {describe_character(found.group())} at character {found.start() + 1}"


def printable(value: str, limit: int = 200) -> str:
    """``value`` safe to store, log and show: forbidden characters as ``\\x00`` escapes,
    cut to ``limit`` characters. For reasons and names that quote what was refused."""
    shown = _FORBIDDEN_IN_LINE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                   else f"\\u{ord(m.group()):04x}", value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def nfc(value: Any) -> Any:
    """A string in Unicode NFC (other values as they are, for the validator to refuse)."""
    if isinstance(value, str) and not value.isascii():
        return unicodedata.normalize("NFC", value)
    return value


def nfc_strings(value: Any) -> Any:
    """Every string value inside a decoded JSON value in NFC (object keys are names, which
    the schema checks as they are)."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, dict):
        return {key: nfc_strings(child) for key, child in value.items()}
    if isinstance(value, list):
        return [nfc_strings(child) for child in value]
    return value
