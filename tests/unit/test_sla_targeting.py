"""SLA targets by customer segment and loyalty tier: selection, precedence, the file format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from domain.complaints import Complaint, record_complaint_fact
from domain.sla_policy import DEFAULT_TARGETS, PolicyBook
from domain.sla_standing import NO_STANDING, SEGMENT, TIER, Standing, StandingFold
from service.settings import REPO_ROOT
from service.sla_config import SlaConfigError, load_policy_book, parse_policy_book

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
T = datetime(2026, 6, 1, 12, tzinfo=UTC)

BOOK = """
[[policies]]
version = "targeted"
effective_from = 2020-01-01T00:00:00Z
[policies.targets]
normal = { first_response = 20, resolution = 60 }
[policies.categories.billing]
normal = { resolution = 48 }
[policies.segments." VIP "]
normal = { first_response = 2, resolution = 10 }
urgent = { resolution = 4 }
[policies.tiers.platinum]
normal = { first_response = 3, resolution = 12 }
high = { resolution = 6 }
[[policies.overrides]]
category = "billing"
segment = "vip"
targets.normal = { resolution = 5 }
[[policies.overrides]]
category = "billing"
tier = "platinum"
targets.normal = { resolution = 7 }
"""


def targets(standing: Standing, priority: str = "normal", category: str | None = None
            ) -> tuple[float, float]:
    policy = parse_policy_book(BOOK).policy_for(T)
    found = policy.targets_for(priority, category, standing)
    return found.first_response / H, found.resolution / H


@pytest.mark.parametrize(
    ("standing", "category", "expected"),
    [
        (NO_STANDING, None, (20, 60)),  # the policy's own targets
        (Standing("consumer", "gold"), None, (20, 60)),  # no rule for them
        (Standing("vip"), None, (2, 10)),  # segment
        (Standing(tier="platinum"), None, (3, 12)),  # tier
        (Standing("vip", "platinum"), None, (2, 10)),  # segment before tier
        (Standing("vip"), "delivery", (2, 10)),
        (Standing("consumer"), "billing", (20, 48)),  # category alone
        (Standing(tier="platinum"), "billing", (20, 7)),  # category + tier
        (Standing("vip", "platinum"), "billing", (20, 5)),  # category + segment first
    ],
)
def test_the_most_specific_rule_wins_and_leaves_out_what_it_does_not_set(
        standing: Standing, category: str | None, expected: tuple[float, float]) -> None:
    assert targets(standing, category=category) == expected


def test_a_priority_a_rule_does_not_name_falls_through_to_the_next_level() -> None:
    assert targets(Standing("vip", "platinum"), "high") == (4, 6)  # tier names high
    assert targets(Standing("vip"), "urgent") == (1, 4)  # default first response
    assert targets(Standing("vip"), "low") == (72, 168)


def test_what_a_book_targets_says_what_its_folds_must_read() -> None:
    assert parse_policy_book(BOOK).targeting == {SEGMENT, TIER}
    assert PolicyBook(parse_policy_book(BOOK.split("[policies.categories")[0]).policies
                      ).targeting == frozenset()


def fact(kind: str, at: datetime, n: int = 0, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(event_type=kind, occurred_at=at, timestamp=at, event_id=f"e-{n}",
                           data=data)


def test_segment_is_the_last_one_set_strictly_before_the_opening() -> None:
    fold = StandingFold(frozenset({SEGMENT}))
    fold.note(fact("crm.account.updated", T, 3, changes={"segment": "business"}))  # same moment
    fold.note(fact("crm.account.opened", T - 5 * H, 1, segment="consumer", name=None))
    fold.note(fact("crm.account.updated", T - H, 2, changes={"segment": " VIP"}))
    assert fold.at(T) == Standing("vip", None)
    assert fold.at(T - 2 * H) == Standing("consumer", None)
    assert fold.at(T - 6 * H) == NO_STANDING
    fold.note(fact("crm.account.updated", T - H / 2, 4, changes={"segment": None}))  # cleared
    assert fold.at(T) == NO_STANDING


def test_tier_is_the_loyalty_tier_before_the_opening_without_the_complaint_penalty() -> None:
    fold = StandingFold(frozenset({TIER}))
    for n in range(12):  # 12 orders of 200 in the last year: F = M = 1, R = 1
        fold.note(fact("crm.order.placed", T - (n + 1) * 20 * H, n, order_id=f"O-{n}",
                       amount="200.00", currency="EUR"))
    assert fold.at(T).tier == "platinum"  # 35 + 25 + 30 = 90
    assert fold.at(T - 10 * 24 * H).tier != "platinum"  # fewer orders before then
    fold.note(fact("crm.order.cancelled", T - H, 20, order_id="O-0"))
    fold.note(fact("crm.order.refunded", T - H, 21, order_id="O-1", amount="200.00"))
    assert fold.at(T).tier == "platinum"  # M still 1800/2000, F 11/12: 35+22.9+27 = 84.9
    fold.note(fact("crm.order.refunded", T + H, 22, order_id="O-2", amount="200.00"))
    assert fold.at(T).tier == "platinum"  # a refund after the opening does not count


def test_a_vip_complaint_keeps_its_targets_through_escalation_and_reopening() -> None:
    book = parse_policy_book(BOOK)
    fold = StandingFold(book.targeting)
    fold.note(fact("crm.account.opened", T - 24 * H, 1, segment="vip"))
    complaints: dict[str, Complaint] = {}

    def complaint(kind: str, at: datetime, **data: Any) -> None:
        record_complaint_fact(complaints, fact(f"crm.complaint.{kind}", at,  # type: ignore[arg-type]
                                               complaint_id="K-1", **data), book, fold)

    complaint("opened", T, priority="normal")
    first, resolution = complaints["K-1"].deadlines
    assert (first.due, resolution.due) == (T + 2 * H, T + 10 * H)
    fold.note(fact("crm.account.updated", T + H, 2, changes={"segment": "consumer"}))
    complaint("escalated", T + H, priority="urgent")  # vip urgent: resolution 4 h
    assert resolution.due == T + 5 * H
    complaint("resolved", T + 2 * H)
    complaint("reopened", T + 3 * H)
    assert complaints["K-1"].deadlines[-1].due == T + 7 * H  # urgent vip, not consumer
    assert complaints["K-1"].standing == Standing("vip", "bronze")  # no orders: bronze


def test_without_a_standing_a_fold_judges_by_the_default_targets() -> None:
    complaints: dict[str, Complaint] = {}
    record_complaint_fact(complaints, fact("crm.complaint.opened", T,  # type: ignore[arg-type]
                                           complaint_id="K", priority="high"),
                          parse_policy_book(BOOK))
    assert complaints["K"].deadlines[1].due == T + DEFAULT_TARGETS["high"].resolution


def test_the_example_file_documents_segment_and_tier_targets() -> None:
    book = load_policy_book(REPO_ROOT / "config" / "sla-policy.example.toml")
    policy = book.policy_for(datetime(2027, 6, 1, tzinfo=UTC))
    assert policy.targets_for("normal", None, Standing("vip")).resolution == 24 * H
    assert policy.targets_for("normal", "billing", Standing("vip")).resolution == 12 * H
    assert policy.targets_for("normal", None, Standing(tier="platinum")).first_response == 12 * H
    assert policy.targets_for("normal", None, Standing("consumer", "gold")).resolution == 72 * H


_HEAD = "[[policies]]\nversion='x'\neffective_from=2026-01-01T00:00:00Z\n"


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        (_HEAD + "[policies.tiers.diamond]\nnormal={resolution=1}\n",
         "policies[0].tiers.diamond: unknown tier 'diamond'; use one of ['bronze', 'silver', "
         "'gold', 'platinum']"),
        (_HEAD + "[policies.segments.'  ']\nnormal={resolution=1}\n",
         "policies[0].segments: an empty segment name ('  ')"),
        (_HEAD + "[policies.segments.vip]\nnormal={resolution=1}\n"
         "[policies.segments.VIP]\nnormal={resolution=2}\n", "name the same segment twice"),
        (_HEAD + "[policies.segments.vip]\nasap={resolution=1}\n",
         "policies[0].segments.vip: unknown priorities ['asap']"),
        (_HEAD + "[policies.tiers.gold]\nnormal={resolution=0}\n",
         "policies.0.tiers.gold.normal.resolution"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\ntargets.normal={resolution=1}\n",
         "policies[0].overrides[0]: name exactly one of segment and tier"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\nsegment='vip'\ntier='gold'\n",
         "policies[0].overrides[0]: name exactly one of segment and tier"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\nsegment=''\n",
         "policies[0].overrides[0].segment: an empty segment name"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\ntier='Gold'\n",
         "policies[0].overrides[0].tier: unknown tier 'Gold'"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\nsegment='vip'\n"
         "[[policies.overrides]]\ncategory='billing'\nsegment='Vip'\n",
         "policies[0].overrides[1]: category 'billing' with 'vip' is overridden twice"),
        (_HEAD + "[[policies.overrides]]\ncategory='billing'\nsegment='vip'\n"
         "targets.asap={resolution=1}\n", "unknown priorities ['asap']"),
    ],
)
def test_targeting_mistakes_name_the_place(text: str, mentions: str) -> None:
    with pytest.raises(SlaConfigError) as raised:
        parse_policy_book(text, source="sla.toml")
    assert mentions in str(raised.value)
    assert str(raised.value).startswith("sla.toml:")
