"""Timeline summaries of the v1 optional fields: who changed an account, refund currencies."""

from __future__ import annotations

import pytest

from projections.summaries import summarize
from projections.timeline_links import summary_data

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("actor", "said"), [
    ({"kind": "customer", "id": None}, "Profile updated by the customer (self-service): phone"),
    ({"kind": "agent", "id": "A-007"}, "Profile updated by agent A-007: phone"),
    ({"kind": "system", "id": "import-job"}, "Profile updated by system import-job: phone"),
    (None, "Profile updated: phone"),
])
def test_profile_updates_say_who_made_them(actor: dict | None, said: str) -> None:
    assert summarize("crm.account.updated", {"changes": {"phone": "+49 1"}, "actor": actor}) == said


def test_other_account_changes_say_it_too_and_old_facts_stay_as_they_were() -> None:
    agent = {"kind": "agent", "id": "A-007"}
    assert summarize("crm.account.consent_changed", {"channel": "sms", "granted": False,
                                                     "actor": agent}) == \
        "Consent for sms withdrawn by agent A-007"
    assert summarize("crm.account.owner_assigned", {"owner_id": "A-1", "owner_name": "Sven",
                                                    "actor": {"kind": "system", "id": None}}) == \
        "Owner assigned: Sven by a system"
    assert summarize("crm.account.closed", {"reason": "moved"}) == "Account closed (moved)"


def test_a_refund_without_a_currency_shows_the_orders_or_none_never_none() -> None:
    refund = {"order_id": "O-1", "amount": "55.4", "currency": None}
    assert summarize("crm.order.refunded", refund) == "Order O-1 refunded: 55.40"
    known = summary_data("crm.order.refunded", refund, {("C-1", "O-1"): "SEK"}, "C-1")
    assert summarize("crm.order.refunded", known) == "Order O-1 refunded: 55.40 SEK"
    other = summary_data("crm.order.refunded", refund, {("C-2", "O-1"): "SEK"}, "C-1")
    assert summarize("crm.order.refunded", other) == "Order O-1 refunded: 55.40"


@pytest.mark.parametrize("amount", [None, "", "a lot", {"value": 3}])
def test_an_order_without_a_readable_amount_still_has_a_summary(amount: object) -> None:
    """One odd fact must not cost the timeline its row (nor set the fact aside)."""
    assert summarize("crm.order.placed", {"order_id": "O-1", "amount": amount}).startswith(
        "Order O-1 placed: ")
    assert summarize("crm.order.refunded", {"order_id": "O-1", "amount": amount}) == (
        "Order O-1 refunded: amount unknown")
