"""Duplicate matching: keys normalised from differently typed profiles, and the scores."""

from __future__ import annotations

import pytest

from predictions.duplicates import (
    EMAIL_WEIGHT,
    NAME_AND_ADDRESS_WEIGHT,
    PHONE_WEIGHT,
    MatchKeys,
    address_key,
    compare,
    email_key,
    name_key,
    name_similarity,
    phone_key,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("typed", "key"), [
    (" Anna.Mueller@Example.COM ", "anna.mueller@example.com"),
    ("anna.mueller+shop@example.com", "anna.mueller@example.com"),
    ("A.N.N.A@googlemail.com", "anna@gmail.com"),
    ("ANNA@GMAIL.COM", "anna@gmail.com"),
    ("not-an-address", None),
    ("", None),
])
def test_email_keys(typed: str, key: str | None) -> None:
    assert email_key(typed) == key


def test_dots_count_outside_gmail() -> None:
    assert email_key("john.smith@example.com") != email_key("johnsmith@example.com")


@pytest.mark.parametrize(("typed", "country"), [
    ("+49 30 1234567", None), ("030/1234567", "DE"), ("0049 (30) 123-4567", "de"),
    ("+49-30-123 45 67", "FR"),  # the + says which country, whatever the profile says
])
def test_phone_numbers_in_any_format_meet_in_e164(typed: str, country: str | None) -> None:
    assert phone_key(typed, country) == "+49301234567"


def test_a_national_number_without_a_country_is_not_guessed() -> None:
    assert phone_key("030 1234567") is None
    assert phone_key("1", "DE") is None  # not a possible number


def test_names_and_addresses_lose_case_accents_order_and_abbreviations() -> None:
    assert name_key("García, José") == name_key("jose  GARCIA") == "garcia jose"
    assert address_key("12 Main Street, Flat 3") == address_key("12 main st. apt 3")
    assert address_key("Hauptstraße 5") == address_key("Hauptstr. 5") == "hauptst 5"


def test_name_similarity_at_the_token_threshold() -> None:
    assert name_similarity("john smith", "jon smith") == 0.929  # Jon/John: 0.857 >= 0.8
    assert name_similarity("anna muller", "anne muller") == 0.0  # Anna/Anne: 0.75 < 0.8
    assert name_similarity("garcia jose", "garcia jose maria") == 1.0  # a middle name more
    assert name_similarity("garcia maria", "garcia jose") == 0.0  # the household's other member


def test_scores_combine_the_evidence() -> None:
    anna = MatchKeys.of({"name": "Anna Müller", "email": "Anna.Mueller@example.com",
                         "phone": "030 1234567", "country": "DE", "address": "Hauptstr. 5"})
    same_email = MatchKeys.of({"name": "A. Mueller", "email": "anna.mueller@example.com "})
    match = compare(anna, same_email)
    assert match is not None
    assert (match.score, match.matched) == (EMAIL_WEIGHT, ("email",))
    everything = compare(anna, MatchKeys.of({"name": "anna muller", "phone": "+49301234567",
                                             "email": "ANNA.MUELLER@EXAMPLE.COM",
                                             "address": "Hauptstrasse 5"}))
    assert everything is not None
    assert everything.matched == ("email", "phone", "name_and_address")
    expected = 1 - (1 - EMAIL_WEIGHT) * (1 - PHONE_WEIGHT) * (1 - NAME_AND_ADDRESS_WEIGHT)
    assert everything.score == round(expected, 3)
    assert everything.reasons[1] == "same phone number (+49…4567 in E.164)"
    assert everything.reasons[2] == "same address and the same name"


def test_near_misses_pair_nobody() -> None:
    anna = MatchKeys.of({"name": "Anna Müller", "email": "anna.mueller@example.com",
                         "phone": "+49 30 1234567", "address": "Hauptstr. 5"})
    assert compare(anna, MatchKeys.of({"name": "Anna Müller", "address": "Hauptstr. 7",
                                       "email": "anna.mueler@example.com",
                                       "phone": "+49 30 1234568"})) is None
    assert compare(anna, MatchKeys.of({"name": "Peter Müller", "address": "Hauptstrasse 5"})) is None
    assert compare(anna, MatchKeys.of({"name": "Anne Müller", "address": "Hauptstrasse 5"})) is None
    assert compare(MatchKeys(), MatchKeys()) is None  # nothing known matches nothing
