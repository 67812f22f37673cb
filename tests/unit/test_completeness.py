"""Profile completeness on the 360: which expected fields a record lacks."""

from __future__ import annotations

import pytest

from domain.customer360 import fold_customer
from tests.facts import T, days, fact

pytestmark = pytest.mark.unit


def test_a_new_record_lacks_what_nobody_has_reported_yet() -> None:
    opened = fact("crm.account.opened", T - days(3), name="Ada", email="ada@example.org",
                  country="DE")
    view = fold_customer("C-1", [opened], T)
    assert view.completeness == {"share": 0.4, "missing": ["phone", "consents", "owner"]}


def test_a_complete_record_and_an_erased_one() -> None:
    facts = [
        fact("crm.account.opened", T - days(3), name="Ada", email="ada@example.org",
             phone="+49 30 1234567", country="DE"),
        fact("crm.account.consent_changed", T - days(2), channel="email", granted=False),
        fact("crm.account.owner_assigned", T - days(1), owner_id="A-007", owner_name="Bo"),
    ]
    assert fold_customer("C-1", facts, T).completeness == {"share": 1.0, "missing": []}
    # A consent refused is a consent recorded; before it and the owner, both were missing.
    assert fold_customer("C-1", facts, T - days(2.5)).completeness["missing"] == [
        "consents", "owner"]
    # After an erasure the facts are read with their personal fields null (their key is
    # destroyed): the e-mail and phone are missing, as they are.
    shredded = [fact("crm.account.opened", T - days(3), name=None, email=None, phone=None,
                     country="DE"), *facts[1:]]
    assert fold_customer("C-1", shredded, T).completeness == {"share": 0.6,
                                                             "missing": ["email", "phone"]}
