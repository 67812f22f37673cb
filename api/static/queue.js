// "My queue": the agent's work, soonest due first (GET /queue): complaints by their next
// SLA deadline, follow-ups due, alerts of the customers they own. Polled every 15 s while
// the tab is shown; changes are announced politely. Its order of customers is what the
// j / k shortcuts walk through.

import { call, explain } from "./api.js";
import { $, el, time } from "./dom.js";

const POLL_MS = 15_000;
const KINDS = { complaint: "Complaint", follow_up: "Follow-up", alert: "Alert" };
const DEADLINES = { first_response: "first response", resolution: "resolution" };

let notify = () => {};
let shown = false; // the queue view is the one on screen
let timer = null;
let sequence = 0; // answers to older requests are dropped
let items = null; // the last answer's items (null: not read yet)
let last = null; // the last answer's rows as keys, to say what changed

export function setUp({ notice }) {
  notify = notice;
  $("#queue-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    last = null;
    refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (!shown) return;
    if (document.hidden) stop();
    else refresh(); // back on the tab: read at once, then poll again
  });
}

function stop() {
  clearTimeout(timer);
  timer = null;
}

function schedule() {
  stop();
  if (shown && !document.hidden) timer = setTimeout(refresh, POLL_MS);
}

/** Route handler for #/queue. */
export function showQueue() {
  shown = true;
  refresh();
}

/** Another view is shown: polling stops until the queue is shown again. */
export function hideQueue() {
  shown = false;
  stop();
}

function params() {
  const form = $("#queue-filters");
  return { kind: form.kind.value, owner: form.owner.value.trim(), team: form.team.value.trim() };
}

const keyOf = (item) => [item.kind, item.complaint_id, item.task_id, item.alert_id,
  item.deadline, item.customer_id].join("|");

async function read() {
  return call("/queue", { params: params() });
}

async function refresh() {
  const mine = ++sequence;
  stop();
  const status = $("#queue-status");
  if (items === null) status.textContent = "Loading your queue…";
  try {
    const answer = await read();
    if (mine !== sequence) return;
    items = answer.items || [];
    render(answer);
  } catch (error) {
    if (mine !== sequence) return;
    if (error.status === 404) {
      // The service does not offer the queue yet (or not this release): say so plainly.
      items = [];
      $("#queue-table tbody").replaceChildren();
      $("#queue-table").hidden = true;
      status.textContent = "The work queue is not available from this service yet (GET /queue answered 404 Not Found).";
    } else if (error.status !== 401) {
      notify(explain(error));
    }
  } finally {
    if (mine === sequence) schedule();
  }
}

function render(answer) {
  const table = $("#queue-table");
  table.hidden = false;
  const rows = items.map(row);
  $("#queue-table tbody").replaceChildren(...rows);
  const overdue = items.filter((i) => i.overdue).length;
  const keys = new Set(items.map(keyOf));
  let change = "";
  if (last !== null) {
    const added = [...keys].filter((k) => !last.has(k)).length;
    const gone = [...last].filter((k) => !keys.has(k)).length;
    if (added || gone) {
      change = ` Changed since the last update: ${added} new, ${gone} gone.`;
    }
  }
  last = keys;
  const whose = answer.agent ? ` for ${answer.agent}` : "";
  const at = answer.generated_at ? new Date(answer.generated_at).toLocaleTimeString() : "now";
  const count = items.length === 1 ? "1 item" : `${items.length} items`;
  $("#queue-status").textContent = items.length
    ? `${count} in the queue${whose}, ${overdue} overdue (updated ${at}).${change}`
    : `Nothing in the queue${whose} (updated ${at}).${change}`;
}

function row(item) {
  const customer = el("a", {
    href: `#/customers/${encodeURIComponent(item.customer_id)}`,
    class: "queue-customer",
  }, item.customer_name ?? "(no name)", el("span", { class: "muted" }, ` — ${item.customer_id}`));
  const what = [item.title];
  if (item.deadline) what.push(` (${DEADLINES[item.deadline] ?? item.deadline} due)`);
  if (item.kind === "alert" && item.alert_kind) what.push(` [${item.alert_kind.replaceAll("_", " ")}]`);
  return el("tr", { class: item.overdue ? "overdue" : null, "data-kind": item.kind },
    el("td", {}, time(item.due_at),
      item.overdue ? el("strong", { class: "overdue-word" }, " Overdue") : null),
    el("td", {}, el("span", { class: `kind kind-${item.kind}` }, KINDS[item.kind] ?? item.kind)),
    el("th", { scope: "row" }, customer),
    el("td", {}, what),
    el("td", {}, item.owner ? `${item.owner.name ?? ""} (${item.owner.id ?? "?"})` : "unassigned"));
}

/** The queue's customers in order, each once (read once if the queue was not shown yet). */
export async function customersInQueue() {
  if (items === null) {
    try {
      items = (await read()).items || [];
    } catch {
      items = [];
    }
  }
  return [...new Set(items.map((i) => i.customer_id))];
}
