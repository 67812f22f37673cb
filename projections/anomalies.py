"""Anomaly and fraud flags: the rules of ``domain/anomalies.py`` over each customer's orders
and account changes, raised as alerts of kind ``anomaly`` (on the 360, the timeline and
``crm.alerts``).

The read model owns no table of its own: what it finds is alerts, with stable ids,
inserted once by the alert book in the batch's transaction. Following ADR 0007, a
busy customer's fold is kept between batches and fed only the facts recorded
since; a fact that sorts before what the fold holds (a late one) has the customer
folded again from its stream, and flags already raised stay raised. Folds are
kept only past a committed batch: after a rollback every customer is folded
again, so no flag is lost with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.alerts import Alert
from domain.anomalies import ANOMALY_TYPES, AnomalyFold, AnomalyPolicy, event_order
from domain.facts import CustomerFact, stored_topic
from history.customer_history import CustomerHistory
from projections.alerts import AlertBook
from projections.generation import Generation
from projections.kept import KeptPerCustomer
from projections.runner import Positioned
from storage.views import SqlCursor, ViewDatabase

#: Customers whose folds are kept between batches (least recently used dropped first),
#: and the fewest facts a customer must have for its fold to be kept.
KEPT_FOLDS, KEEP_FROM = 2_000, 20


@dataclass
class _Kept:
    fold: AnomalyFold
    version: int  # the last stream version fed to it


class AnomalyProjection:
    """Flags every customer's orders and account changes as they arrive."""

    def __init__(self, history: CustomerHistory, views: ViewDatabase, policy: AnomalyPolicy,
                 generation: Generation) -> None:
        self.history = history
        self.policy = policy
        self.name = generation.tracking_name
        self.generation = generation.number
        self.customers = generation.shard
        self.topics = tuple(stored_topic(t) for t in ANOMALY_TYPES)
        self.reads_personal_data = False  # which fields changed, never their values
        self.alert_book = AlertBook(views)
        self._kept: KeptPerCustomer[_Kept] = KeptPerCustomer(KEPT_FOLDS)
        self._unconfirmed = False  # an apply whose transaction has not been seen to commit

    def committed(self) -> None:
        """The last batch's flags are stored: the folds that raised them may be kept."""
        self._unconfirmed = False

    def create_tables(self, views: ViewDatabase) -> None:
        """None: its flags live in the alert book."""

    def apply(self, cursor: SqlCursor, batch: Sequence[Positioned]) -> None:
        if self._unconfirmed:  # rolled back: its flags were never stored, so fold again
            self._kept.clear()
        self._unconfirmed = True
        customers = sorted({item.fact.customer_id for item in batch})
        kept = {c: self._kept[c] for c in customers if c in self._kept}
        news = self.history.customers_facts(customers, self.topics,
                                            {c: k.version for c, k in kept.items()},
                                            personal_data=False)
        alerts: list[Alert] = []
        again = []
        for customer in customers:
            new = sorted(news[customer], key=event_order)
            entry = kept.get(customer)
            if entry is not None and new and entry.fold.last_key is not None \
                    and event_order(new[0]) <= entry.fold.last_key:
                again.append(customer)  # a late fact: fold the customer again, whole
                continue
            alerts += self._feed(customer, entry, new)
        whole = self.history.customers_facts(again, self.topics, personal_data=False)
        for customer in again:
            alerts += self._feed(customer, None, sorted(whole[customer], key=event_order))
        self.alert_book.raise_alerts(cursor, alerts)

    def _feed(self, customer: str, entry: _Kept | None, facts: Sequence[CustomerFact]
              ) -> list[Alert]:
        """Feed ``facts`` to the customer's kept fold (a new one if None); keep it if its
        history is long enough to be worth keeping."""
        entry = entry or _Kept(AnomalyFold(customer, self.policy), 0)
        alerts = [alert for fact in facts for alert in entry.fold.add(fact)]
        entry.version = max([entry.version, *(f.originator_version for f in facts)])
        if entry.fold.count < KEEP_FROM:
            self._kept.pop(customer, None)
        else:
            self._kept.keep(customer, entry)
        return alerts
