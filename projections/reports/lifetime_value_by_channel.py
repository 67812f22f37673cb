"""Lifetime value by acquisition channel: net spend per currency of the customers each
channel brought, after refunds and cancellations."""

from __future__ import annotations

from decimal import Decimal

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows

UNKNOWN = "unknown"


class LifetimeValueByChannel(Report):
    name = "lifetime_value_by_channel"
    title = "Lifetime value by acquisition channel"
    reads = frozenset({"crm.account.opened", "crm.order.placed", "crm.order.cancelled",
                       "crm.order.refunded"})
    columns = ("channel", "currency", "customers", "lifetime_value", "per_customer")
    amounts = frozenset({"lifetime_value"})

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        if fact.event_type == "crm.account.opened":
            return (f"customer:{fact.customer_id}",)
        return (f"customer:{fact.customer_id}", f"order:{fact.customer_id}:{fact.data['order_id']}")

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        data = fact.data
        customer = rows.recall(f"customer:{fact.customer_id}") or {"channel": None, "net": {}}
        channel = customer["channel"] or UNKNOWN
        if fact.event_type == "crm.account.opened":
            if customer["channel"] is not None:
                return
            customer["channel"] = data.get("acquisition_channel") or UNKNOWN
            for currency, net in customer["net"].items():  # orders stored before the opening
                self._add(rows, UNKNOWN, currency, -Decimal(net), customers=0)
                self._add(rows, customer["channel"], currency, Decimal(net), customers=0)
            for currency in customer["net"]:
                self._add(rows, UNKNOWN, currency, Decimal(0), customers=-1)
                self._add(rows, customer["channel"], currency, Decimal(0), customers=1)
        else:
            order_key = f"order:{fact.customer_id}:{data['order_id']}"
            order = rows.recall(order_key)
            if fact.event_type == "crm.order.placed":
                order = {"currency": data["currency"], "net": "0", "cancelled": False}
                change = Decimal(data["amount"])
            elif order is None or order["cancelled"]:
                return
            elif fact.event_type == "crm.order.cancelled":
                change = -Decimal(order["net"])
                order["cancelled"] = True
            else:  # refunded, never below zero
                change = -min(Decimal(data["amount"]), Decimal(order["net"]))
            order["net"] = str(Decimal(order["net"]) + change) if not order["cancelled"] else "0"
            rows.remember(order_key, order)
            currency = order["currency"]
            new_currency = currency not in customer["net"]
            customer["net"][currency] = str(Decimal(customer["net"].get(currency, "0")) + change)
            self._add(rows, channel, currency, change, customers=1 if new_currency else 0)
        rows.remember(f"customer:{fact.customer_id}", customer)

    @staticmethod
    def _add(rows: ReportRows, channel: str, currency: str, amount: Decimal, customers: int) -> None:
        row = rows.row(f"{channel}|{currency}", channel=channel, currency=currency, customers=0,
                       lifetime_value="0")
        row["lifetime_value"] = str(Decimal(row["lifetime_value"]) + amount)
        row["customers"] += customers

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            value = Decimal(row["lifetime_value"])
            row["lifetime_value"] = f"{value:.2f}"
            row["per_customer"] = f"{value / row['customers']:.2f}" if row["customers"] else None
        return rows


REPORT = LifetimeValueByChannel
