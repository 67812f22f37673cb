"""Fitting the models from the store's own history (``crm-timeline models fit``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.facts import CustomerFact, stored_topic
from history.customer_history import CustomerHistory
from predictions import churn
from predictions.model_book import ModelBook

CHURN = "churn"
_ORDER_TOPICS = [stored_topic(t) for t in churn.ORDER_TYPES]


@dataclass(frozen=True)
class Fitted:
    version: int
    fit: churn.Fit
    as_of: datetime


def order_facts(history: CustomerHistory, *, batch: int = 5000,
                on_progress: Callable[[int, int], None] | None = None
                ) -> dict[str, list[CustomerFact]]:
    """Every order fact in the store, by customer (no personal data is read)."""
    by_customer: dict[str, list[CustomerFact]] = defaultdict(list)
    last = history.recorder.max_notification_id() or 0
    position = 0
    while notifications := history.recorder.select_notifications(
            start=position, limit=batch, topics=_ORDER_TOPICS, inclusive_of_start=False):
        for fact in history.facts_of(notifications, personal_data=False):
            by_customer[fact.customer_id].append(fact)
        position = notifications[-1].id
        if on_progress:
            on_progress(position, last)
    return by_customer


def fit_churn(history: CustomerHistory, book: ModelBook, as_of: datetime | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> Fitted:
    """Fit BG/NBD on every customer's purchases that happened and were recorded by
    ``as_of`` (default now) and keep it as a new version. ``churn.NotEnoughHistory``
    when the store holds too little."""
    cut = as_of or datetime.now(UTC)
    facts_up_to = history.recorder.max_notification_id() or 0
    histories = [h for customer, facts in order_facts(history, on_progress=on_progress).items()
                 if (h := churn.purchase_history(customer, facts, cut, known_at=cut)) is not None]
    fit = churn.fit(histories)
    version = book.record(CHURN, fitted_at=datetime.now(UTC), as_of=cut,
                          facts_up_to=facts_up_to, parameters=fit.model.as_dict(),
                          summary={"model": "BG/NBD", "customers": fit.customers,
                                   "repeat_customers": fit.repeat_customers,
                                   "log_likelihood": round(fit.log_likelihood, 3)})
    return Fitted(version, fit, cut)


def churn_of(book: ModelBook, history: churn.PurchaseHistory | None,
             as_of: datetime) -> dict[str, object]:
    """The 360's ``churn``: figures and reasons for ``history`` (a customer's purchases as of
    ``as_of``, None: no order yet), with the model that gave them, or why there are none."""
    stored = book.latest(CHURN, known_at=as_of)
    if stored is None:
        return {"risk": None, "as_of": as_of.isoformat(),
                "reasons": ["no churn model fitted on facts recorded by then "
                            "(crm-timeline models fit churn)"]}
    model = churn.ChurnModel(**stored.parameters)
    described = {"model": f"BG/NBD v{stored.version} (facts as of {stored.as_of})",
                 "as_of": as_of.isoformat()}
    if history is None:
        return {"risk": None, **described, "reasons": ["no order yet: nothing to predict from"]}
    return {**churn.explain(model, history), **described}


def latest_churn_model(book: ModelBook, as_of: datetime) -> churn.ChurnModel | None:
    """The churn model fitted on facts recorded by ``as_of`` (None: none fitted yet)."""
    stored = book.latest(CHURN, known_at=as_of)
    return churn.ChurnModel(**stored.parameters) if stored is not None else None


def churn_risk(model: churn.ChurnModel | None, customer_id: str, orders: dict[str, Any],
               as_of: datetime) -> float | None:
    """The churn risk as of ``as_of`` of a customer known by its 360's ``orders`` (as the
    360 projection stores them); None without a model or an order."""
    if model is None or not orders["count"]:
        return None
    return model.risk(churn.history_of_days(
        customer_id, orders["order_days"], datetime.fromisoformat(orders["first_order_time"]),
        datetime.fromisoformat(orders["last_order_time"]), as_of))
