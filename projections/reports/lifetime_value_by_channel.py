"""Lifetime value by acquisition channel: net spend (after refunds and cancellations) of
the customers each channel brought, in the deployment's base currency, with the amounts
per currency beside it.

Amounts are kept per currency and converted when read, at the loyalty policy's rates
(``CRM_LOYALTY_EXCHANGE_RATES``), so a changed rate needs no rebuild; a currency
without a rate is left out of the base figure and named in ``unconverted_currencies``,
never guessed. A merged customer counts once, with the channel of its earliest
opening; ``customers`` counts every customer of the channel, buyers or not, so
``per_customer`` is what an acquired customer is worth. Rows are kept per
acquisition month, so a time range (``since``/``until``) picks the customers
acquired in it.
"""

from __future__ import annotations

from decimal import Decimal

from domain.facts import CustomerFact
from projections.reports.base import Doc, ReportRows, instant
from projections.reports.per_customer import CustomerReport

UNKNOWN = "unknown"


class LifetimeValueByChannel(CustomerReport):
    name = "lifetime_value_by_channel"
    title = "Lifetime value by acquisition channel"
    customer_reads = frozenset({"crm.account.opened", "crm.order.placed", "crm.order.cancelled",
                                "crm.order.refunded"})
    columns = ("channel", "customers", "currency", "lifetime_value", "per_customer",
               "by_currency", "unconverted_currencies")
    period = "month"

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        keys = super().memory_keys(fact)
        if fact.event_type.startswith("crm.order."):
            keys += (f"order:{fact.customer_id}:{fact.data['order_id']}",)
        return keys

    def record(self, rows: ReportRows, state: Doc | None, fact: CustomerFact) -> Doc | None:
        customer = dict(state or {"opened_at": None, "channel": UNKNOWN, "net": {}})
        data = fact.data
        if fact.event_type == "crm.account.opened":
            at = instant(fact)
            if customer["opened_at"] is not None and customer["opened_at"] <= at:
                return None  # a later opening (a re-registration) changes no channel
            customer["opened_at"], customer["channel"] = at, data.get("acquisition_channel") or UNKNOWN
            return customer
        order_key = f"order:{fact.customer_id}:{data['order_id']}"
        order = rows.recall(order_key)
        if fact.event_type == "crm.order.placed":
            if order is not None:
                return None  # the same order again
            order = {"currency": data["currency"], "net": data["amount"], "cancelled": False}
            change = Decimal(data["amount"])
        elif order is None or order["cancelled"]:
            return None
        elif fact.event_type == "crm.order.cancelled":
            change = -Decimal(order["net"])
            order = {**order, "cancelled": True, "net": "0"}
        else:  # refunded, never below zero
            change = -min(Decimal(data["amount"]), Decimal(order["net"]))
            order = {**order, "net": str(Decimal(order["net"]) + change)}
        rows.remember(order_key, order)
        if not change:
            return None
        currency = order["currency"]
        customer["net"] = {**customer["net"],
                           currency: str(Decimal(customer["net"].get(currency, "0")) + change)}
        return customer

    def merged(self, states: list[Doc]) -> Doc:
        opened = sorted((s for s in states if s["opened_at"]), key=lambda s: s["opened_at"])
        net: dict[str, Decimal] = {}
        for state in states:
            for currency, amount in state["net"].items():
                net[currency] = net.get(currency, Decimal(0)) + Decimal(amount)
        first = opened[0] if opened else states[0]
        return {"opened_at": first["opened_at"], "channel": first["channel"],
                "net": {currency: str(amount) for currency, amount in sorted(net.items())}}

    def count(self, rows: ReportRows, state: Doc, sign: int) -> None:
        month = state["opened_at"][:7] if state["opened_at"] else None
        row = rows.row(f"{state['channel']}|{month}", channel=state["channel"], month=month,
                       customers=0, by_currency={})
        row["customers"] += sign
        for currency, amount in state["net"].items():
            total = Decimal(row["by_currency"].get(currency, "0")) + sign * Decimal(amount)
            row["by_currency"][currency] = str(total)

    def finish(self, rows: list[Doc]) -> list[Doc]:
        """One row per channel (over the months kept), in the base currency."""
        loyalty = self.policies.loyalty
        channels: dict[str, Doc] = {}
        for row in rows:
            channel = channels.setdefault(row["channel"], {"channel": row["channel"], "customers": 0,
                                                           "by_currency": {}})
            channel["customers"] += row["customers"]
            for currency, amount in row["by_currency"].items():
                channel["by_currency"][currency] = (channel["by_currency"].get(currency, Decimal(0))
                                                    + Decimal(amount))
        shown = []
        for channel in sorted(channels.values(), key=lambda c: c["channel"]):
            if not channel["customers"]:
                continue
            amounts = {c: a for c, a in sorted(channel["by_currency"].items()) if a}
            rated = [a * loyalty.exchange_rates[c] for c, a in amounts.items()
                     if c in loyalty.exchange_rates]
            value = sum(rated, Decimal(0))
            shown.append({
                "channel": channel["channel"], "customers": channel["customers"],
                "currency": loyalty.base_currency, "lifetime_value": f"{value:.2f}",
                "per_customer": f"{value / channel['customers']:.2f}",
                "by_currency": {c: f"{a:.2f}" for c, a in amounts.items()},
                "unconverted_currencies": [c for c in amounts if c not in loyalty.exchange_rates],
            })
        return shown


REPORT = LifetimeValueByChannel
