"""Purchase affinity: which products are bought together, and which tend to follow which.

Two kinds of rule, each with support, confidence and lift:

* ``together``: A and B in one order. Support is the share of orders holding both,
  confidence the share of orders with A that also hold B, lift the confidence over
  B's own share of orders (above 1: A makes B likelier).
* ``follows``: customers who bought A and later (in a later order) bought B for the
  first time. Support is the share of ordering customers who did, confidence the
  share of A's buyers who did, lift the confidence over B's own share of
  customers, and ``mean_days`` how long after A's first purchase B came.

Orders count as placed (a cancellation does not undo the intent they show). A
customer's first purchase of each product is remembered (no personal data), so an
order that arrives late, before purchases already counted, moves the "follows"
rules it changes: the rows always equal a fold of the orders in event time. A merged
customer is one buyer, with the first purchases of all its ids (``per_customer``).
"""

from __future__ import annotations

from datetime import datetime

from domain.facts import CustomerFact
from projections.reports.base import Doc, ReportRows, instant
from projections.reports.per_customer import CustomerReport

_DAY_SECONDS = 86_400


class PurchaseAffinity(CustomerReport):
    name = "purchase_affinity"
    title = "Purchase affinity: bought together and bought next"
    customer_reads = frozenset({"crm.order.placed"})
    columns = ("kind", "antecedent", "consequent", "count", "support", "confidence", "lift",
               "mean_days")

    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        """Counts the order (orders are not customers: a merge moves none), and returns the
        customer's first purchase of each product if the order changes one."""
        skus = sorted({item["sku"] for item in fact.data.get("items") or ()})
        rows.row("total", kind="total", orders=0, customers=0)["orders"] += 1
        for sku in skus:
            _product(rows, sku)["orders"] += 1
        for n, first in enumerate(skus):
            for second in skus[n + 1:]:
                rows.row(f"together|{first}|{second}", kind="together", antecedent=first,
                         consequent=second, orders=0)["orders"] += 1
        first_bought = dict((state or {"first": {}})["first"])
        at = instant(fact)
        later = {sku for sku in skus if sku not in first_bought or at < first_bought[sku]}
        if not later and state is not None:
            return None
        return {"first": {**first_bought, **dict.fromkeys(later, at)}}

    def merged(self, states: list[Doc]) -> Doc:
        first: dict[str, str] = {}
        for state in states:
            for sku, at in state["first"].items():
                first[sku] = min(at, first.get(sku, at))
        return {"first": first}

    def count(self, rows: ReportRows, state: Doc, sign: int) -> None:
        """A customer's first purchases: a buyer of each product, and one "follows" rule
        for each pair bought one after the other."""
        if not state["first"]:
            return
        rows.row("total", kind="total", orders=0, customers=0)["customers"] += sign
        for sku in state["first"]:
            _product(rows, sku)["customers"] += sign
        _follows(rows, state["first"], set(state["first"]), sign)

    def change(self, rows: ReportRows, before: Doc | None, now: Doc | None) -> None:
        """Only the products whose first purchase moved, and the rules they are in: a
        customer buying a new product is not k² rules counted again."""
        if not (before and before["first"] and now and now["first"]):
            super().change(rows, before, now)
            return
        old, new = before["first"], now["first"]
        moved = {sku for sku in old.keys() | new.keys() if old.get(sku) != new.get(sku)}
        for sku in moved:
            _product(rows, sku)["customers"] += (sku in new) - (sku in old)
        _follows(rows, old, moved, -1)
        _follows(rows, new, moved, +1)

    def finish(self, rows: list[Doc]) -> list[Doc]:
        """The rules with their measures, strongest first within each kind; products with
        their share of orders; totals left out."""
        total = next((r for r in rows if r["kind"] == "total"), {"orders": 0, "customers": 0})
        products = {r["antecedent"]: r for r in rows if r["kind"] == "product"}
        out: list[Doc] = []
        for sku, product in sorted(products.items()):
            out.append({"kind": "product", "antecedent": sku, "consequent": None,
                        "count": product["orders"], "support": _share(product["orders"], total["orders"]),
                        "confidence": None, "lift": None, "mean_days": None,
                        "customers": product["customers"]})
        for row in rows:
            if row["kind"] == "together":
                for a, b in ((row["antecedent"], row["consequent"]),
                             (row["consequent"], row["antecedent"])):
                    out.append(_rule("together", a, b, row["orders"], "orders", products, total))
            elif row["kind"] == "follows" and row["customers"]:
                out.append(_rule("follows", row["antecedent"], row["consequent"],
                                 row["customers"], "customers", products, total,
                                 round(row["seconds"] / row["customers"] / _DAY_SECONDS, 1)))
        return sorted(out, key=lambda r: (r["kind"], -(r["confidence"] or 0), r["antecedent"],
                                          r["consequent"] or ""))


def _rule(kind: str, a: str, b: str, count: int, unit: str, products: dict[str, Doc],
          total: Doc, mean_days: float | None = None) -> Doc:
    """A rule A -> B shown by ``count`` of ``unit`` (orders for bought together, customers
    for bought next), with its support, confidence and lift over that unit."""
    confidence = _share(count, products[a][unit])
    return {"kind": kind, "antecedent": a, "consequent": b, "count": count,
            "support": _share(count, total[unit]), "confidence": confidence,
            "lift": _ratio(confidence, _share(products[b][unit], total[unit])),
            "mean_days": mean_days}


def _follows(rows: ReportRows, first_bought: dict[str, str], involving: set[str], sign: int) -> None:
    """Count (``sign`` +1) or uncount (-1) the "follows" rules between products first bought
    one after the other (``first_bought``), of the pairs with a product in ``involving``."""
    times = {sku: datetime.fromisoformat(at) for sku, at in first_bought.items()}
    for one in involving & times.keys():
        for other, then in times.items():
            if other == one or (other in involving and other < one):
                continue  # itself, or a pair of two involved products met from the other
            if then == times[one]:
                continue  # in the same order: together, not one after the other
            (a, first), (b, second) = sorted([(one, times[one]), (other, then)], key=lambda p: p[1])
            row = rows.row(f"follows|{a}|{b}", kind="follows", antecedent=a, consequent=b,
                           customers=0, seconds=0)
            row["customers"] += sign
            row["seconds"] += sign * int((second - first).total_seconds())


def _product(rows: ReportRows, sku: str) -> Doc:
    return rows.row(f"product|{sku}", kind="product", antecedent=sku, orders=0, customers=0)


def _share(count: int, of: int) -> float | None:
    return round(count / of, 4) if of else None


def _ratio(confidence: float | None, base: float | None) -> float | None:
    return round(confidence / base, 3) if confidence is not None and base else None


REPORT = PurchaseAffinity


#: A rule counts for recommendations once this many customers (or orders) show it: fewer
#: are anecdotes.
MIN_EVIDENCE = 5


def recommendations(rules: list[Doc], bought: set[str], limit: int = 10) -> list[Doc]:
    """Products not in ``bought``, ranked by the strongest rule leading to each from a
    product in ``bought`` (confidence, then lift), with that rule in words. Only rules
    with lift above 1 (the product is likelier after, not just popular) and enough
    evidence count."""
    best: dict[str, Doc] = {}
    for rule in rules:
        if rule["kind"] not in ("together", "follows") or rule["antecedent"] not in bought \
                or rule["consequent"] in bought or rule["count"] < MIN_EVIDENCE \
                or (rule["lift"] or 0) <= 1:
            continue
        held = best.get(rule["consequent"])
        if held is None or (rule["confidence"], rule["lift"]) > (held["confidence"], held["lift"]):
            best[rule["consequent"]] = rule
    ranked = sorted(best.values(), key=lambda r: (-r["confidence"], -r["lift"], r["consequent"]))
    return [{"sku": rule["consequent"], "confidence": rule["confidence"], "lift": rule["lift"],
             "because_of": rule["antecedent"], "kind": rule["kind"], "reason": _reason(rule)}
            for rule in ranked[:limit]]


def _reason(rule: Doc) -> str:
    if rule["kind"] == "together":
        return (f"in {rule['confidence']:.0%} of orders with {rule['antecedent']} "
                f"({rule['lift']:.1f} times its usual share)")
    return (f"bought by {rule['confidence']:.0%} of customers who bought {rule['antecedent']}, "
            f"usually {rule['mean_days']:.0f} days later")
