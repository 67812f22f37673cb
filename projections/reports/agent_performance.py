"""Agent performance by channel: contacts and their outcomes, first-contact resolution,
sales, and the satisfaction of the customers each agent served.

* **First-contact resolution**: of the inbound contacts that were not a repeat (no
  inbound contact from the customer in the ``REPEAT_DAYS`` before), the share
  resolved at that contact. A contact is judged against the customer's earlier
  contacts stored by then; one arriving late does not judge again those counted.
* **Satisfaction**: a survey answer that names the contact it rates
  (``contact_event_id``) counts for that contact's agent and channel; one that names
  a complaint, for the agent who last responded to or resolved it, on the
  complaint's channel. An answer naming a contact not seen yet waits for it. Answers
  naming neither count under ``unattributed``. NPS is the share of promoters (9-10)
  minus detractors (0-6), times 100.

Contacts without an agent are ``self-service``. Per customer the report remembers
its last inbound contact times and the agents of its recent contacts and
complaints (``RECENT``), never what was said.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.facts import CustomerFact
from projections.reports.base import Doc, Report, ReportRows, instant, shares

OUTCOMES = ("resolved", "sale", "follow_up", "escalated", "no_answer", "other")
REPEAT_DAYS = 7
#: Contacts and complaints remembered per customer for attributing surveys.
RECENT = 100
SELF_SERVICE, UNATTRIBUTED = "self-service", "unattributed"


class AgentPerformance(Report):
    name = "agent_performance"
    title = "Agent performance by channel: outcomes, first-contact resolution, satisfaction"
    reads = frozenset({"crm.contact.logged", "crm.survey.answered", "crm.complaint.opened",
                       "crm.complaint.responded", "crm.complaint.resolved"})
    columns = ("agent_id", "channel", "contacts", "inbound", *OUTCOMES, "first_contacts",
               "first_contact_resolved", "first_contact_resolution", "surveys", "nps",
               "csat_average")

    def memory_keys(self, fact: CustomerFact) -> tuple[str, ...]:
        return (fact.customer_id,)

    def fold(self, rows: ReportRows, fact: CustomerFact) -> None:
        memory = rows.recall(fact.customer_id) or {"inbound": [], "contacts": {}, "complaints": {},
                                                   "waiting": {}}
        data, kind = fact.data, fact.event_type
        if kind == "crm.contact.logged":
            agent = data.get("agent_id") or SELF_SERVICE
            row = _row(rows, agent, data["channel"])
            row["contacts"] += 1
            row[data.get("outcome") or "other"] += 1
            if data["direction"] == "inbound":
                row["inbound"] += 1
                at = instant(fact)
                since = (datetime.fromisoformat(at) - timedelta(days=REPEAT_DAYS)).isoformat()
                if not any(since <= t < at for t in memory["inbound"]):
                    row["first_contacts"] += 1
                    row["first_contact_resolved"] += data.get("outcome") == "resolved"
                memory["inbound"] = sorted([*memory["inbound"], at])[-RECENT:]
            memory["contacts"] = _recent({**memory["contacts"],
                                          fact.event_id: [agent, data["channel"]]})
            for scores in memory["waiting"].pop(fact.event_id, []):
                _rate(row, scores)
        elif kind == "crm.complaint.opened":
            memory["complaints"] = _recent({**memory["complaints"], data["complaint_id"]:
                                            [None, data.get("channel") or "unknown"]})
        elif kind in ("crm.complaint.responded", "crm.complaint.resolved"):
            complaint = memory["complaints"].get(data["complaint_id"])
            if complaint is not None and data.get("agent_id"):
                complaint[0] = data["agent_id"]
        else:
            scores = [data.get("nps"), data.get("csat")]
            contact, complaint = data.get("contact_event_id"), data.get("complaint_id")
            served = (memory["contacts"].get(contact) if contact else
                      memory["complaints"].get(complaint) if complaint else None)
            if contact and served is None:
                memory["waiting"].setdefault(contact, []).append(scores)
            else:
                agent, channel = served if served and served[0] else (UNATTRIBUTED, "none")
                _rate(_row(rows, agent, channel), scores)
        rows.remember(fact.customer_id, memory)

    def finish(self, rows: list[Doc]) -> list[Doc]:
        for row in rows:
            row["first_contact_resolution"] = shares(row["first_contact_resolved"],
                                                     row["first_contacts"])
            row["nps"] = (round(100 * (row["promoters"] - row["detractors"]) / row["nps_answers"], 1)
                          if row["nps_answers"] else None)
            row["csat_average"] = (round(row["csat_sum"] / row["csat_answers"], 2)
                                   if row["csat_answers"] else None)
        return rows


def _row(rows: ReportRows, agent: str, channel: str) -> Doc:
    return rows.row(f"{agent}|{channel}", agent_id=agent, channel=channel, contacts=0, inbound=0,
                    **dict.fromkeys(OUTCOMES, 0), first_contacts=0, first_contact_resolved=0,
                    surveys=0, nps_answers=0, promoters=0, detractors=0, csat_answers=0,
                    csat_sum=0)


def _rate(row: Doc, scores: list[int | None]) -> None:
    nps, csat = scores
    row["surveys"] += 1
    if nps is not None:
        row["nps_answers"] += 1
        row["promoters"] += nps >= 9
        row["detractors"] += nps <= 6
    if csat is not None:
        row["csat_answers"] += 1
        row["csat_sum"] += csat


def _recent(served: dict[str, list[str | None]]) -> dict[str, list[str | None]]:
    """The last ``RECENT`` entries (dicts keep insertion order)."""
    return dict(list(served.items())[-RECENT:])



REPORT = AgentPerformance
