"""Churn back-test: the model fitted as of a moment against what the history shows after it.

    python bench/churn.py            # 300,000 events over two years, 10,000 customers
    python bench/churn.py --smoke    # a small one, for CI

The load generator's customers stop buying after an exponential lifetime from their
opening (``--churn-mean-days``, 300 by default: about 70 % of a year's customers
stop within the year), so the truth is known. The load is recorded into a fresh
schema through ``history.record``; then, as of T (``--holdout-days`` before the
end, 120 by default):

* the model: BG/NBD fitted as ``crm-timeline models fit churn`` fits it, on every
  customer's orders as of T (the store was filled after the fact, so it cuts by
  event time only); its probability of an order in (T, T + 90 days], the
  complement of the 360's risk;
* the naive rule: days since the last order, calibrated into a probability by a
  logistic regression (scikit-learn) fitted one horizon earlier, as of T - 90 days,
  on what happened in (T - 90, T];
* the oracle: the generator's own truth (whether the customer still buys at T, its
  order rate and the churn hazard): the best any model of this history could do.

Each is scored against whether the customer ordered in (T, T + 90] (customers with
an order by T): AUC (ranking) and Brier score (calibration; lower is better), with
scikit-learn's metrics.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from datetime import UTC, datetime, timedelta

import harness
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from generators import loadgen
from predictions import churn
from predictions.fitting import order_facts

HORIZON = churn.HORIZON_DAYS
ORDER_SHARE = dict(loadgen.MIX)["crm.order.placed"] / sum(w for _, w in loadgen.MIX)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_arguments(parser, events="events (300000; smoke 20000)")
    harness.add_run_arguments(parser)
    parser.add_argument("--span-days", type=int, default=730, help="days the load covers")
    parser.add_argument("--churn-mean-days", type=float, default=300.0)
    parser.add_argument("--holdout-days", type=int, default=120,
                        help="T lies this many days before the end (>= 90)")
    args = parser.parse_args()
    harness.apply_defaults(args, events=(300_000, 20_000), customers=(10_000, 1_000))

    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=args.span_days)
    ids, cumulative = loadgen.zipf_customers(args.customers, args.zipf, args.seed)
    draws = random.Random(args.seed + 1).choices(ids, cum_weights=cumulative, k=args.events)
    generator = loadgen.LoadGenerator(args.seed, churn_mean_days=args.churn_mean_days)
    events = loadgen.events_of(draws, now=now, span=span, generator=generator)

    with harness.Run(keep=args.keep, kafka=False) as run:
        history = run.history()
        harness.fill(history, (loadgen.as_fact(e) for e in events), total=args.events,
                     progress=not args.smoke)
        orders = order_facts(history)
    end = now - timedelta(seconds=1)
    t = end - timedelta(days=args.holdout_days)
    earlier = t - timedelta(days=HORIZON)

    def histories(at: datetime) -> dict[str, churn.PurchaseHistory]:
        return {c: h for c, facts in orders.items()
                if (h := churn.purchase_history(c, facts, at, known_at=None)) is not None}

    def ordered_within(customer: str, after: datetime) -> bool:
        return churn.ordered_between(orders.get(customer, []), after,
                                     after + timedelta(days=HORIZON), known_at=None)

    at_t, at_earlier = histories(t), histories(earlier)
    customers, before = sorted(at_t), sorted(at_earlier)
    truth = np.array([ordered_within(c, t) for c in customers])
    outcomes = [ordered_within(c, earlier) for c in before]
    fitted = churn.fit(list(at_t.values()))  # as `crm-timeline models fit churn` fits it at T
    model = np.array([fitted.model.p_order_within(at_t[c]) for c in customers])

    naive_fit = LogisticRegression().fit(
        np.array([[at_earlier[c].days_since_last] for c in before]), np.array(outcomes))
    naive = naive_fit.predict_proba(np.array([[at_t[c].days_since_last] for c in customers]))[:, 1]

    weights = dict(zip(ids, np.diff([0.0, *cumulative]), strict=True))
    per_day = args.events / cumulative[-1] / args.span_days * ORDER_SHARE
    hazard = 1 / args.churn_mean_days

    def oracle_p(customer: str) -> float:
        leaves = generator.customers[customer].leaves_at
        if leaves is None or leaves <= t:
            return 0.0
        rate = weights[customer] * per_day
        return rate / (rate + hazard) * (1 - math.exp(-(rate + hazard) * HORIZON))

    oracle = np.array([oracle_p(c) for c in customers])
    alive = sum(1 for c in customers
                if (generator.customers[c].leaves_at or end) > t)
    naive_auc = roc_auc_score(truth, naive)
    rows = []
    for name, scores in (
            ("the 360's model: BG/NBD, P(an order within 90 days)", model),
            ("naive rule: days since the last order (logistic)", naive),
            ("oracle: the generator's truth", oracle)):
        auc = roc_auc_score(truth, scores)
        first = scores is model
        rows.append(harness.Row(
            f"churn back-test, {name}",
            f"{auc:.3f} AUC, Brier {brier_score_loss(truth, scores):.4f}",
            f"naive AUC {naive_auc:.3f}" if first else "-",
            f"{auc / naive_auc:.2f}" if first else "-",
            "AUC above the naive rule's" if first else "-",
            bool(auc > naive_auc) if first else None))
    m = fitted.model
    print(f"fitted as of {t:%Y-%m-%d}: r={m.r:.3g} alpha={m.alpha:.3g} a={m.a:.3g} b={m.b:.3g}; "
          f"{len(customers):,} customers with orders, {alive:,} still buying at T, "
          f"{int(truth.sum()):,} ordered in the next {HORIZON} days")
    harness.print_table(
        f"churn: {args.events:,} events over {args.span_days} days, {args.customers:,} customers, "
        f"mean lifetime {args.churn_mean_days:g} days, T = end - {args.holdout_days} days, "
        f"{os.cpu_count()} cores", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
