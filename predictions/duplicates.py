"""Duplicate candidates: customers who are probably the same person, and why.

Upstream systems type the same person differently: ``Anna.Mueller@Example.com``
and ``anna.mueller@example.com``, ``+49 30 1234567`` and ``030/1234567``,
``José García, 12 Main Street`` and ``jose garcia, 12 main st.``. Each profile
is reduced to *match keys* (normalised e-mail, E.164 phone, name tokens,
address) and two customers are compared by their keys alone:

* the same e-mail after normalisation (case, surrounding spaces, ``+tags``; dots
  in Gmail's local parts) is strong evidence;
* the same phone number in E.164 (Google's libphonenumber, with the customer's
  country for numbers written without one) is good evidence: households and
  small firms share numbers;
* a similar name at the same address is good evidence; the same address with a
  different first name (a partner, a flatmate) is no evidence at all.

Merging stays an upstream decision (``crm.account.merged``): this only proposes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import phonenumbers

#: Evidence weights: a candidate's score is 1 - the product of (1 - weight) of its matches.
EMAIL_WEIGHT = 0.9
PHONE_WEIGHT = 0.75
NAME_AND_ADDRESS_WEIGHT = 0.8
#: Two name tokens match from this similarity (``Jon``/``John`` 0.86; ``Anna``/``Anne`` 0.75).
TOKEN_SIMILARITY = 0.8
#: Providers whose local parts ignore dots, and the domain they are one with.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
#: Address words written in more than one way, in their short form.
_ADDRESS_WORDS = {"street": "st", "str": "st", "strasse": "st", "road": "rd", "avenue": "ave",
                  "av": "ave", "boulevard": "blvd", "drive": "dr", "lane": "ln", "place": "pl",
                  "square": "sq", "apartment": "apt", "flat": "apt", "number": "no", "nr": "no"}


@dataclass(frozen=True)
class MatchKeys:
    """A profile reduced to what matching compares; nothing else of it is kept."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    address: str | None = None

    @classmethod
    def of(cls, profile: dict[str, Any]) -> MatchKeys:
        """The keys of a profile (``name``, ``email``, ``phone``, ``address``, ``country``)."""
        return cls(email_key(profile.get("email")),
                   phone_key(profile.get("phone"), profile.get("country")),
                   name_key(profile.get("name")), address_key(profile.get("address")))


@dataclass(frozen=True)
class Match:
    score: float
    matched: tuple[str, ...]  # "email", "phone", "name_and_address"
    reasons: tuple[str, ...]


def plain_text(raw: str | None) -> str:
    """Case folded, accents and punctuation gone, spaces collapsed: ``São-Paulo`` -> ``sao paulo``."""
    if not raw:
        return ""
    text = unicodedata.normalize("NFKD", raw.casefold().replace("ß", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def email_key(raw: str | None) -> str | None:
    if not raw or "@" not in raw:
        return None
    local, _, domain = unicodedata.normalize("NFKC", raw).strip().casefold().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}" if local and domain else None


def phone_key(raw: str | None, country: str | None = None) -> str | None:
    """E.164 (``+49301234567``), or None for a number that cannot be read as one: without a
    ``+`` and a known country there is no telling ``030 1234567`` in Berlin from Madrid."""
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def name_key(raw: str | None) -> str | None:
    """The name's tokens in plain text, sorted: ``García, José`` and ``jose garcia`` agree."""
    return " ".join(sorted(plain_text(raw).split())) or None


def address_key(raw: str | None) -> str | None:
    """The address in plain text with street words in one form (``Main Street`` and ``main
    st.``, ``Hauptstraße`` and ``Hauptstr.`` agree)."""
    return " ".join(_address_word(word) for word in plain_text(raw).split()) or None


def _address_word(word: str) -> str:
    for suffix in ("strasse", "str"):  # German streets are one word: Hauptstrasse
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)] + "st"
    return _ADDRESS_WORDS.get(word, word)


def name_similarity(a: str, b: str) -> float:
    """How alike two name keys are: each token of the shorter name against its best match
    in the other (order and middle names aside), 0 if any token has no match."""
    short, long = sorted((a.split(), b.split()), key=len)
    scores = [max(SequenceMatcher(None, token, other).ratio() for other in long) for token in short]
    if not scores or min(scores) < TOKEN_SIMILARITY:
        return 0.0
    return round(sum(scores) / len(scores), 3)


def compare(a: MatchKeys, b: MatchKeys) -> Match | None:
    """How likely ``a`` and ``b`` are one person, with the reasons in words; None if no
    key agrees."""
    found: list[tuple[str, float, str]] = []
    if a.email and a.email == b.email:
        found.append(("email", EMAIL_WEIGHT, "same e-mail address (ignoring case, spaces and +tags)"))
    if a.phone and a.phone == b.phone:
        found.append(("phone", PHONE_WEIGHT, f"same phone number ({_masked(a.phone)} in E.164)"))
    if a.name and b.name and a.address and a.address == b.address:
        similarity = name_similarity(a.name, b.name)
        if similarity:
            found.append(("name_and_address", NAME_AND_ADDRESS_WEIGHT * similarity,
                          "same address and the same name" if similarity == 1 else
                          f"same address and a similar name ({similarity:.0%} alike)"))
    if not found:
        return None
    unlikely = 1.0
    for _, weight, _ in found:
        unlikely *= 1 - weight
    return Match(round(1 - unlikely, 3), tuple(k for k, _, _ in found), tuple(r for _, _, r in found))


def _masked(phone: str) -> str:
    """Enough of a number to recognise it, not to dial it: ``+49…4567``."""
    return f"{phone[:3]}…{phone[-4:]}"
