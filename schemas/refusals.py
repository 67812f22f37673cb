"""Why a message is refused, for machines as well as people.

Every refusal has a prose ``reason`` (``dlq.reason``: names the attribute or
field and what was wrong) and one ``error_class`` from a small fixed vocabulary
(``dlq.error.class``), so that an operator or an alerting rule can count,
filter and re-drive dead letters by kind without parsing English. The classes
are part of the dead-letter contract: add, never rename.
"""

from __future__ import annotations

from schemas.text import printable

#: The message value is missing or empty.
EMPTY = "empty"
#: Not UTF-8, not JSON, or JSON two parsers would read differently.
NOT_JSON = "not_json"
#: A schema-registry frame (magic byte 0x00, schema id) that is cut short.
FRAMING = "framing"
#: A ``content-type`` this service does not read (a batch, a non-JSON format).
CONTENT_MODE = "content_mode"
#: A ``ce_*`` or ``content-type`` header that is not UTF-8.
HEADER = "header"
#: A text with a control character or a lone surrogate, a number that is not finite.
HOSTILE_TEXT = "hostile_text"
#: An extension attribute that breaks CloudEvents' naming or value rules.
EXTENSION = "extension"
#: Over a size or count limit (extension attributes).
TOO_LARGE = "too_large"
#: The envelope or the payload does not match its schema.
SCHEMA = "schema"
#: A ``type`` this service has no schema for.
UNKNOWN_TYPE = "unknown_type"
#: ``time`` further ahead of the receiver's clock than allowed.
FUTURE_TIME = "future_time"

#: Every class the wire contract itself gives (the history and the consumer add theirs).
WIRE_CLASSES = (EMPTY, NOT_JSON, FRAMING, CONTENT_MODE, HEADER, HOSTILE_TEXT, EXTENSION,
                TOO_LARGE, SCHEMA, UNKNOWN_TYPE, FUTURE_TIME)


class InvalidEvent(ValueError):
    """A message that is not a valid CRM event; ``reason`` says why, for people, and
    ``error_class`` (one of ``WIRE_CLASSES``) what kind of fault it is, for machines.

    The reason quotes what was sent; control characters in it are escaped
    (``schemas.text.printable``), so it can be stored and shown as it is."""

    def __init__(self, reason: str, error_class: str = SCHEMA) -> None:
        reason = printable(reason, limit=1000)
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class
