"""Churn: purchase histories as of a moment, the BG/NBD likelihood, the figures, reasons."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import special
from sklearn.metrics import roc_auc_score

from generators import loadgen
from predictions import churn
from tests.facts import T, days, fact, order

pytestmark = pytest.mark.unit


def placed(at: datetime, order_id: str, customer: str = "C-1"):
    """An order placed at ``at`` and recorded at once."""
    return replace(order(at, order_id, "10.00"), customer_id=customer, timestamp=at)


def cancelled(at: datetime, order_id: str):
    return replace(fact("crm.order.cancelled", at, order_id=order_id), timestamp=at)


def test_a_purchase_history_counts_order_days_that_happened_and_were_recorded_by_then() -> None:
    facts = [placed(T - days(100), "O-1"), placed(T - days(100) + timedelta(hours=1), "O-2"),
             placed(T - days(60), "O-3"), placed(T - days(30), "O-4"),
             cancelled(T - days(29), "O-4"),
             placed(T - days(10), "O-5"),
             placed(T + days(1), "O-6")]  # after the moment
    late = replace(placed(T - days(5), "O-7"), timestamp=T + days(2))  # recorded after it
    history = churn.purchase_history("C-1", [*facts, late], T, known_at=T)
    # Order days: -100 (two orders, one day), -60, -10; O-4 was cancelled.
    assert history == churn.PurchaseHistory("C-1", frequency=2, recency=90, age=100.5,
                                            days_since_last=10.5)  # T is at noon
    assert history.interval == 45
    # Without the recording cut (a history loaded after the fact), O-7 counts.
    assert churn.purchase_history("C-1", [*facts, late], T, known_at=None).frequency == 3
    assert churn.purchase_history("C-1", facts, T - days(101), known_at=T) is None


def test_a_fact_recorded_after_the_moment_never_changes_the_prediction_as_of_it() -> None:
    model = churn.ChurnModel(0.5, 20.0, 1.5, 4.0)
    facts = [placed(T - days(n), f"O-{n}") for n in (200, 150, 90, 40)]
    before = churn.explain(model, churn.purchase_history("C-1", facts, T, known_at=T))
    later = [replace(placed(T - days(3), "O-late"), timestamp=T + timedelta(seconds=1)),
             replace(cancelled(T - days(2), "O-40"), timestamp=T + days(1))]
    after = churn.explain(model, churn.purchase_history("C-1", facts + later, T, known_at=T))
    assert after == before


def test_the_bgnbd_likelihood_is_the_papers_equation_six() -> None:
    r, alpha, a, b = 0.24, 4.41, 0.79, 2.43  # the paper's CDNOW estimates
    x, tx, age = 2.0, 30.43, 38.86

    def by_hand() -> float:
        first = (math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
                 + math.lgamma(a + b) + math.lgamma(b + x) - math.lgamma(b)
                 - math.lgamma(a + b + x))
        return first + math.log((alpha + age) ** -(r + x)
                                + a / (b + x - 1) * (alpha + tx) ** -(r + x))

    got = churn.log_likelihood((r, alpha, a, b), np.array([x]), np.array([tx]), np.array([age]))
    assert got[0] == pytest.approx(by_hand())
    # No repeat purchase: only the "still active, no purchase since" term.
    zero = churn.log_likelihood((r, alpha, a, b), np.array([0.0]), np.array([0.0]),
                                np.array([age]))
    assert zero[0] == pytest.approx(r * math.log(alpha) - r * math.log(alpha + age))
    assert special.gammaln(r) == pytest.approx(math.lgamma(r))


def test_p_alive_and_the_horizon_figures() -> None:
    model = churn.ChurnModel(0.24, 4.41, 0.79, 2.43)
    once = churn.PurchaseHistory("C-1", 0, 0.0, 30.0, 30.0)
    assert model.p_alive(once) == 1.0  # BG/NBD: nobody drops out before a repeat purchase
    regular = churn.PurchaseHistory("C-2", 6, 180.0, 185.0, 5.0)
    gone = replace(regular, age=400.0, days_since_last=220.0)
    assert model.p_alive(gone) < 0.2 < 0.85 < model.p_alive(regular)
    assert 0 < model.p_order_within(gone) < model.p_order_within(regular) < 1
    assert model.expected_orders(regular) > model.expected_orders(gone) > 0


def test_the_reasons_say_in_words_what_drives_the_figure() -> None:
    model = churn.ChurnModel(0.5, 20.0, 1.5, 4.0)
    slipping = churn.PurchaseHistory("C-1", 4, 124.0, 336.0, 212.0)
    shown = churn.explain(model, slipping)
    assert shown["reasons"] == ["no order for 212 days; used to order every 31 days",
                                "5 order days in 336 days"]
    assert shown["risk"] == pytest.approx(1 - shown["p_order_90d"], abs=1e-4)
    assert shown["level"] == "high"
    regular = churn.PurchaseHistory("C-2", 9, 270.0, 280.0, 10.0)
    assert churn.explain(model, regular)["reasons"][0] == (
        "last order 10 days ago; orders about every 30 days")
    once = churn.PurchaseHistory("C-3", 0, 0.0, 1.0, 1.0)
    assert churn.explain(model, once)["reasons"][0] == (
        "one order so far, 1 day ago: too little to see a rhythm")


def test_too_little_history_is_refused_rather_than_guessed() -> None:
    few = [churn.PurchaseHistory(f"C-{n}", 1, 10.0, 20.0, 10.0) for n in range(29)]
    with pytest.raises(churn.NotEnoughHistory, match="29 of 29 customers have ordered on more "
                                                     "than one day; fitting needs at least 30"):
        churn.fit(few)


def test_on_a_history_with_known_truth_the_model_ranks_better_than_days_since_the_last_order(
) -> None:
    """The load generator's customers stop buying after an exponential lifetime; fitted as
    of T, the model's ranking of who orders in the 90 days after T beats the naive rule's
    (bench/churn.py prints the figures, and the oracle's)."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ids, cumulative = loadgen.zipf_customers(1000, 1.1, 7)
    draws = random.Random(8).choices(ids, cum_weights=cumulative, k=20_000)
    generator = loadgen.LoadGenerator(7, churn_mean_days=300)
    orders: dict[str, list] = {}
    for event in loadgen.events_of(draws, now=now, span=timedelta(days=730), generator=generator):
        if event["type"].startswith("crm.order."):
            reported = loadgen.as_fact(event)
            orders.setdefault(reported.customer_id, []).append(reported)
    t = now - timedelta(days=120)
    histories = {c: h for c, facts in orders.items()
                 if (h := churn.purchase_history(c, facts, t, known_at=None))}
    model = churn.fit(list(histories.values())).model
    customers = sorted(histories)
    truth = [churn.ordered_between(orders[c], t, t + timedelta(days=90), known_at=None)
             for c in customers]
    model_auc = roc_auc_score(truth, [model.p_order_within(histories[c]) for c in customers])
    naive_auc = roc_auc_score(truth, [-histories[c].days_since_last for c in customers])
    assert model_auc > naive_auc
