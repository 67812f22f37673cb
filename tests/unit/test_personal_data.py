"""Sealing personal fields under a customer's key, and reading them back or blank."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from domain.personal_data import blank
from history.sealing import SEALED, new_key, seal, unseal
from schemas.registry import personal_fields

pytestmark = pytest.mark.unit

OPENED = {"name": "Ottilie Wunder", "email": "ottilie@example.org", "country": "DE"}
UPDATED = {"changes": {"email": "o.w@example.net", "address": None, "segment": "vip"}}


def test_the_schema_marks_name_contact_details_and_free_text_as_personal() -> None:
    assert personal_fields("crm.account.opened") == (("name",), ("email",), ("phone",), ("address",))
    assert ("changes", "email") in personal_fields("crm.account.updated")
    assert personal_fields("crm.complaint.opened") == (("summary",),)
    assert personal_fields("crm.survey.answered") == (("comment",),)
    assert personal_fields("crm.order.placed") == ()  # amounts and product names stay


def test_sealed_fields_leave_the_data_and_come_back_with_the_key() -> None:
    key = new_key()
    sealed = seal(OPENED, personal_fields("crm.account.opened"), key, "e-1")
    assert "Ottilie" not in str(sealed) and "ottilie@" not in str(sealed)
    assert sealed["country"] == "DE" and sealed[SEALED]["fields"] == ["name", "email"]
    unseal(sealed, key, "e-1")
    assert sealed == OPENED


def test_any_json_value_comes_back_exactly_non_ascii_and_integers_beyond_64_bits_too() -> None:
    key = new_key()
    data = {"name": "Zoë Ångström\u2028", "address": {"street": "Straße 1", "code": 10**30}}
    sealed = seal(data, (("name",), ("address",)), key, "e-2")
    unseal(sealed, key, "e-2")
    assert sealed == data and type(sealed["address"]["code"]) is int


def test_nested_changes_are_sealed_and_a_cleared_field_stays_cleared() -> None:
    key = new_key()
    sealed = seal(UPDATED, personal_fields("crm.account.updated"), key, "e-2")
    assert sealed["changes"] == {"segment": "vip"} and UPDATED["changes"]["email"]  # input untouched
    unseal(sealed, key, "e-2")
    assert sealed == UPDATED


def test_without_the_key_the_fields_read_as_null_and_the_rest_stays() -> None:
    sealed = seal(UPDATED, personal_fields("crm.account.updated"), new_key(), "e-3")
    unseal(sealed, None, "e-3")
    assert sealed == {"changes": {"email": None, "address": None, "segment": "vip"}}


def test_after_erasure_nothing_personal_is_stored_at_all() -> None:
    sealed = seal(OPENED, personal_fields("crm.account.opened"), None, "e-4")
    assert sealed[SEALED] == {"fields": ["name", "email"], "box": None}
    unseal(sealed, new_key(), "e-4")
    assert sealed == {**OPENED, "name": None, "email": None}


def test_a_box_moved_to_another_event_or_opened_with_another_key_fails() -> None:
    key = new_key()
    sealed = seal(OPENED, personal_fields("crm.account.opened"), key, "e-5")
    with pytest.raises(InvalidTag):
        unseal(dict(sealed), key, "e-6")
    with pytest.raises(InvalidTag):
        unseal(dict(sealed), new_key(), "e-5")


def test_blank_nulls_the_personal_fields_present() -> None:
    assert blank(OPENED, personal_fields("crm.account.opened")) == {
        "name": None, "email": None, "country": "DE"}
    assert OPENED["name"] == "Ottilie Wunder"
