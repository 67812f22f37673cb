// Segments: each with its rule, member count and build progress; a segment's members
// (now, or as of a past moment), page by page, each one click from the customer.

import { call, explain } from "./api.js";
import { $, el, show, time } from "./dom.js";

let notify = () => {};

export function setUp({ notice }) {
  notify = notice;
  $("#segment-asof-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#segment-members").dataset.segment;
    if (name) showMembers(name);
  });
}

function rule(condition) {
  // A rule in words, for the list: "loyalty.tier in [gold, platinum] and ...".
  if (condition.all) return condition.all.length ? condition.all.map(rule).join(" and ") : "everyone";
  if (condition.any) return `(${condition.any.map(rule).join(" or ")})`;
  if (condition.not) return `not ${rule(condition.not)}`;
  const [operator] = Object.keys(condition).filter((k) => k !== "field");
  return `${condition.field} ${operator.replace("_", " ")} ${JSON.stringify(condition[operator])}`;
}

export async function showSegments(name) {
  const status = $("#segments-status");
  const list = $("#segments-list");
  status.textContent = "Loading segments…";
  try {
    const { segments } = await call("/segments");
    list.replaceChildren(...segments.map((s) => el("tr", {},
      el("th", { scope: "row" }, el("a", { href: `#/segments/${encodeURIComponent(s.name)}` }, s.name)),
      el("td", {}, s.description || "—"),
      el("td", {}, s.retired ? "retired" : rule(s.rule)),
      el("td", { class: "number" }, String(s.members)),
      el("td", {}, s.in_progress
        ? `${s.in_progress.pass}: ${s.in_progress.done} of ${s.in_progress.total} customers`
        : `version ${s.version}${s.timed ? ", judged again as time passes" : ""}`))));
    status.textContent = segments.length ? `${segments.length} segments.` : "No segments defined yet.";
  } catch (error) {
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
  $("#segment-members").hidden = !name;
  if (name) await showMembers(name);
}

async function showMembers(name, cursor = null) {
  const box = $("#segment-members");
  box.dataset.segment = name;
  $("#segment-members-title").textContent = `Members of ${name}`;
  const asOf = $("#segment-asof").value;
  const query = new URLSearchParams({ limit: "50" });
  if (asOf) query.set("as_of", new Date(asOf).toISOString());
  if (cursor) query.set("cursor", cursor);
  const rows = $("#segment-members-rows");
  if (!cursor) rows.replaceChildren();
  try {
    const page = await call(`/segments/${encodeURIComponent(name)}/members?${query}`);
    rows.append(...page.members.map((m) => el("tr", {},
      el("th", { scope: "row" }, el("a", { href: `#/customers/${encodeURIComponent(m.customer_id)}` }, m.customer_id)),
      el("td", {}, show(m.name)), el("td", {}, show(m.loyalty_tier)),
      el("td", {}, time(m.entered_at)))));
    $("#segment-members-status").textContent = `${rows.children.length} members shown`
      + (page.as_of ? ` as of ${new Date(page.as_of).toLocaleString()}` : " now")
      + (page.next_cursor ? "; more below." : ".");
    const more = $("#segment-more");
    more.hidden = !page.next_cursor;
    more.onclick = () => showMembers(name, page.next_cursor);
  } catch (error) {
    $("#segment-members-status").textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
}
