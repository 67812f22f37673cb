// Alerts: open SLA breaches and the like, acknowledged by agents (recorded in their name).

import { call, explain } from "./api.js";
import { $, el, show, time } from "./dom.js";

let notify = () => {};
let me = null;

export function setUp({ notice }) {
  notify = notice;
  $("#alert-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    showAlerts();
  });
}

/** Who is signed in decides whether "Acknowledge" can be used (the API checks too). */
export function setCaller(caller) {
  me = caller;
}

const KINDS = {
  sla_breach: "SLA breached", sla_at_risk: "SLA at risk",
  contact_fatigue: "Contact fatigue", outbound_without_consent: "Outbound without consent",
};

function details(alert) {
  const d = alert.details || {};
  if (d.complaint_id) {
    return `Complaint ${d.complaint_id}: ${String(d.deadline || "").replaceAll("_", " ")} due ${
      d.due ? new Date(d.due).toLocaleString() : "?"} (${d.priority ?? "?"} priority)`;
  }
  return show(d);
}

export async function showAlerts() {
  const form = $("#alert-filters");
  const status = $("#alerts-status");
  const canAck = Boolean(me) && (me.role === "agent" || me.role === "admin");
  $("#alerts-role-note").hidden = canAck;
  status.textContent = "Loading…";
  try {
    const page = await call("/alerts", { params: { status: form.status.value, kind: form.kind.value } });
    $("#alerts-table tbody").replaceChildren(...page.alerts.map((alert) => row(alert, canAck)));
    status.textContent = page.alerts.length ? `${page.alerts.length} alerts.` : "No alerts.";
  } catch (error) {
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
}

function row(alert, canAck) {
  const customer = el("a", { href: `#/customers/${encodeURIComponent(alert.customer_id)}` },
    alert.customer_id);
  const state = el("td", { class: "alert-state" }, stateText(alert));
  const action = el("td", {});
  if (alert.status === "open") {
    const button = el("button", {
      type: "button",
      class: "ack",
      disabled: !canAck,
      "aria-describedby": canAck ? null : "alerts-role-note",
      "aria-label": `Acknowledge ${KINDS[alert.kind] ?? alert.kind} for ${alert.customer_id}`,
      onclick: () => acknowledge(alert, button, state),
    }, "Acknowledge");
    action.append(button);
  }
  return el("tr", { "data-alert-id": alert.alert_id },
    el("td", {}, time(alert.raised_time)),
    el("td", {}, KINDS[alert.kind] ?? alert.kind),
    el("td", {}, customer),
    el("td", {}, details(alert)),
    state,
    action);
}

function stateText(alert) {
  if (alert.status !== "acknowledged") return alert.status;
  return `acknowledged by ${alert.acknowledged_by ?? "?"}`;
}

async function acknowledge(alert, button, state) {
  button.disabled = true;
  try {
    const updated = await call(`/alerts/${encodeURIComponent(alert.alert_id)}/ack`, {
      method: "POST", // no "by": the service records the key's own agent
    });
    state.textContent = stateText(updated);
    button.remove();
    $("#alerts-status").textContent = `Acknowledged: ${KINDS[alert.kind] ?? alert.kind} for ${alert.customer_id}.`;
  } catch (error) {
    button.disabled = false;
    if (error.status !== 401) notify(explain(error));
  }
}
