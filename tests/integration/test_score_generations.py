"""A new loyalty formula reaches agents only with the swap of a 360 rebuilt with it: a
process restarted with new weights computes with the live generation's, the rebuild's
diff lists exactly the customers whose tier changes, and after the swap every process
shows the new scores."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from domain.customer360 import fold_customer
from projections import replay
from projections.catalog import CUSTOMER_360
from service.settings import REPO_ROOT, load_settings
from tests.integration.conftest import Desk, wait_until
from tests.integration.test_reports import merge_roots, sample_facts

pytestmark = pytest.mark.integration

#: Money nearly all that counts, and a lower bar for gold: many tiers move.
NEW_WEIGHTS = "recency=0.05,frequency=0.05,monetary=0.85,engagement=0.05"
NEW_TIERS = "platinum=70,gold=45,silver=25"
AS_OF = datetime(2027, 1, 1, tzinfo=UTC)


def agent_view(desk: Desk, customers: list[str]) -> dict[str, tuple]:
    """What an agent reads of each customer: the 360's score now and as of a fixed moment,
    and the loyalty endpoint's."""
    seen = {}
    for customer in customers:
        now = desk.client.get(f"/customers/{customer}").json()["loyalty"]
        then = desk.client.get(f"/customers/{customer}",
                               params={"as_of": AS_OF.isoformat()}).json()["loyalty"]
        card = desk.client.get(f"/customers/{customer}/loyalty",
                               params={"as_of": AS_OF.isoformat()}).json()
        seen[customer] = (now["tier"], then["score"], then["tier"], card["score"], card["tier"])
    return seen


def test_new_loyalty_weights_reach_agents_only_with_the_swap(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = sample_facts(80)
    assert not merge_roots(facts)
    desk.record(*facts)
    customers = sorted({f.customer_id for f in facts})
    before = agent_view(desk, customers)

    monkeypatch.setenv("CRM_LOYALTY_WEIGHTS", NEW_WEIGHTS)
    monkeypatch.setenv("CRM_LOYALTY_TIERS", NEW_TIERS)
    renewed = Desk(load_settings())  # a process restarted with the new formula
    try:
        old_policies, new_policies = desk.settings.policies(), renewed.settings.policies()
        assert old_policies.loyalty != new_policies.loyalty
        assert agent_view(renewed, customers) == before  # the live generation's formula

        shown = subprocess.run(  # what an admin runs, in the new settings' environment
            [sys.executable, "-m", "service.cli", "replay", CUSTOMER_360, "--diff"],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
            timeout=300, check=True).stdout
        changes = replay.tier_changes(replay.diff(renewed.catalog, CUSTOMER_360))
        # A plain loop: each customer's tier as of its last fact (as the rows hold it),
        # under either formula.
        stored = desk.history.customers_facts(customers)
        expected = []
        for customer in customers:
            own = stored[customer]
            last = max(f.occurred_at for f in own)
            tiers = [fold_customer(customer, own, last, p).loyalty.tier
                     for p in (old_policies, new_policies)]
            if tiers[0] != tiers[1]:
                expected.append((customer, *tiers))
        assert len(expected) >= 5
        assert sorted(changes) == expected
        assert f"built with loyalty_weights = {NEW_WEIGHTS!r}" in shown
        assert f"customers whose loyalty tier changes: {len(expected)}" in shown
        assert f"  {expected[0][0]}: {expected[0][1]} -> {expected[0][2]}" in shown
        assert agent_view(renewed, customers) == before  # built, not yet swapped in

        replay.replay(renewed.catalog, CUSTOMER_360)  # resumes the build and swaps it in
        new_then = {c: fold_customer(c, stored[c], AS_OF, new_policies).loyalty
                    for c in customers}
        for process in (renewed, desk):  # the old settings' process too
            wait_until(lambda p=process: all(
                view[1:] == (new_then[c].score, new_then[c].tier) * 2
                for c, view in agent_view(p, customers).items()),
                what="the new formula after the swap")
    finally:
        renewed.history.close()
