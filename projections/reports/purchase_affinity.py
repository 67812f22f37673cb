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
rules it changes: the rows always equal a fold of the orders in event time.
"""

from __future__ import annotations

from datetime import datetime

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows, instant

_DAY_SECONDS = 86_400


class PurchaseAffinity(Report):
    name = "purchase_affinity"
    title = "Purchase affinity: bought together and bought next"
    reads = frozenset({"crm.order.placed"})
    columns = ("kind", "antecedent", "consequent", "count", "support", "confidence", "lift",
               "mean_days")

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (fact.customer_id,)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        skus = sorted({item["sku"] for item in fact.data.get("items") or ()})
        totals = rows.row("total", kind="total", orders=0, customers=0)
        totals["orders"] += 1
        for sku in skus:
            rows.row(f"product|{sku}", kind="product", antecedent=sku, orders=0,
                     customers=0)["orders"] += 1
        for n, first in enumerate(skus):
            for second in skus[n + 1:]:
                rows.row(f"together|{first}|{second}", kind="together", antecedent=first,
                         consequent=second, orders=0)["orders"] += 1
        customer = rows.recall(fact.customer_id) or {"first": {}}
        first_bought: dict[str, str] = customer["first"]
        if not first_bought and skus:
            totals["customers"] += 1
        at = instant(fact)
        for sku in skus:
            earlier = first_bought.get(sku)
            if earlier is not None and earlier <= at:
                continue
            if earlier is None:
                rows.row(f"product|{sku}", kind="product", antecedent=sku, orders=0,
                         customers=0)["customers"] += 1
            else:
                _follow(rows, first_bought, sku, -1)
            first_bought[sku] = at
            _follow(rows, first_bought, sku, +1)
        rows.remember(fact.customer_id, customer)

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


def _follow(rows: ReportRows, first_bought: dict[str, str], sku: str, sign: int) -> None:
    """Count (``sign`` +1) or uncount (-1) the "follows" rules between ``sku``, first bought
    when ``first_bought`` says, and every other product the customer bought."""
    at = datetime.fromisoformat(first_bought[sku])
    for other, other_at in first_bought.items():
        if other == sku:
            continue
        then = datetime.fromisoformat(other_at)
        if then == at:
            continue  # in the same order: together, not one after the other
        a, b, gap = (other, sku, at - then) if then < at else (sku, other, then - at)
        row = rows.row(f"follows|{a}|{b}", kind="follows", antecedent=a, consequent=b,
                       customers=0, seconds=0)
        row["customers"] += sign
        row["seconds"] += sign * int(gap.total_seconds())


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
