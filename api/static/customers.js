// Find a customer (search as you type), their 360 card, and their timeline.

import { call, explain } from "./api.js";
import { $, debounce, el, facts, localDay, percent, show, svg, time } from "./dom.js";

const PAGE_SIZE = 25; // timeline entries per request: small pages keep scrolling smooth

let notify = () => {};

export function setUp({ notice }) {
  notify = notice;
  setUpSearch();
  setUpTimeline();
  setUpAsOf();
}

// ---------------------------------------------------------------- search

let searchSequence = 0; // answers to older keystrokes are dropped
let options = [];
let active = -1;

function label(customer) {
  // Erased customers keep their id but no longer have a name or e-mail.
  const name = customer.name ?? "(erased)";
  return `${name} — ${customer.customer_id}`;
}

function setUpSearch() {
  const input = $("#search-input");
  const list = $("#search-results");
  const run = debounce(() => search(input.value.trim()), 200);
  input.addEventListener("input", run);
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !options.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + options.length) % options.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      pick(options[Math.max(active, 0)]);
    } else if (event.key === "Escape") {
      closeList();
    }
  });
  // Clicks on options must not blur the input before they register.
  list.addEventListener("mousedown", (event) => event.preventDefault());
}

async function search(q) {
  const sequence = ++searchSequence;
  const status = $("#search-status");
  if (!q) {
    closeList();
    status.textContent = "";
    return;
  }
  status.textContent = "Searching…";
  try {
    const page = await call("/customers", { params: { q, limit: 20 } });
    if (sequence !== searchSequence) return;
    showResults(page.customers, Boolean(page.next_cursor));
  } catch (error) {
    if (sequence !== searchSequence) return;
    closeList();
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
}

function showResults(customers, more) {
  const list = $("#search-results");
  const input = $("#search-input");
  options = customers;
  active = -1;
  list.replaceChildren(...customers.map((customer, index) => el("li", {
    id: `search-option-${index}`,
    role: "option",
    "aria-selected": "false",
    "data-customer-id": customer.customer_id,
    class: customer.name === null ? "erased" : null,
    onclick: () => pick(customer),
  },
  el("span", { class: "option-name" }, label(customer)),
  el("span", { class: "option-meta" },
    [customer.email, customer.status, customer.loyalty_tier].filter(Boolean).join(" · ")))));
  list.hidden = customers.length === 0;
  input.setAttribute("aria-expanded", String(customers.length > 0));
  input.removeAttribute("aria-activedescendant");
  const count = customers.length === 1 ? "1 customer" : `${customers.length}${more ? "+" : ""} customers`;
  $("#search-status").textContent = customers.length
    ? `${count} found; use the arrow keys and Enter to choose.`
    : "No customer matches.";
}

function highlight(index) {
  const items = $("#search-results").querySelectorAll("[role=option]");
  items.forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
  active = index;
  $("#search-input").setAttribute("aria-activedescendant", items[index].id);
  items[index].scrollIntoView({ block: "nearest" });
}

function closeList() {
  $("#search-results").hidden = true;
  $("#search-input").setAttribute("aria-expanded", "false");
  $("#search-input").removeAttribute("aria-activedescendant");
}

function pick(customer) {
  closeList();
  window.location.hash = `#/customers/${encodeURIComponent(customer.customer_id)}`;
}

// ---------------------------------------------------------------- 360 card

let shownCustomer = null; // the id, and the moment asked for: "<id>|<as_of>|<known_at>"
let reading = { customerId: null, asOf: null, knownAt: null }; // what the card shows

/** "2026-12-03T09:30:00" (datetime-local, the agent's time) from an ISO moment. */
function localInput(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T${
    pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
}

function customerHash(customerId, asOf = null, knownAt = null) {
  const base = `#/customers/${encodeURIComponent(customerId)}`;
  if (!asOf) return base;
  const query = new URLSearchParams({ as_of: asOf, known_at: knownAt || asOf });
  return `${base}?${query}`;
}

function setUpAsOf() {
  $("#asof-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#asof-input").value;
    if (!reading.customerId) return;
    if (!value) {
      window.location.hash = customerHash(reading.customerId);
      return;
    }
    // The same moment for both: what had happened, as the service knew it, then.
    const moment = new Date(value).toISOString();
    window.location.hash = customerHash(reading.customerId, moment, moment);
  });
}

/** Route handler for #/customers, #/customers/<id> and #/customers/<id>?as_of=…&known_at=…. */
export async function showCustomer(customerId, { asOf = null, knownAt = null } = {}) {
  const article = $("#customer");
  if (!customerId) {
    article.hidden = true;
    shownCustomer = null;
    $("#search-input").focus();
    return;
  }
  const wanted = `${customerId}|${asOf ?? ""}|${knownAt ?? ""}`;
  if (wanted === shownCustomer) return;
  shownCustomer = wanted;
  const params = { as_of: asOf, known_at: knownAt };
  try {
    const view = await call(`/customers/${encodeURIComponent(customerId)}`, { params });
    if (shownCustomer !== wanted) return;
    reading = { customerId, asOf, knownAt, name: view.profile?.name ?? "(erased)" };
    renderCard(view);
    showAsOf(view);
    article.hidden = false;
    // Focus follows the route to the customer, unless the agent is typing meanwhile.
    if (!document.activeElement?.closest("input, select, textarea")) $("#customer-title").focus();
    showCandidates(customerId, wanted);
    showPurchases(customerId, wanted, view);
    $("#timeline-filters").reset();
    // The timeline is read by the id that was asked for: the API resolves merges itself.
    loadTimeline(customerId);
  } catch (error) {
    article.hidden = true;
    shownCustomer = null;
    if (error.status !== 401) notify(explain(error));
  }
}

/** The as-of control and, for a past moment, the banner that says so. */
function showAsOf(view) {
  const banner = $("#asof-banner");
  $("#asof-back").href = customerHash(reading.customerId);
  $("#asof-input").value = reading.asOf ? localInput(reading.asOf) : "";
  if (!reading.asOf) {
    banner.hidden = true;
    return;
  }
  const when = new Date(reading.asOf).toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" });
  const name = view.profile?.name ?? "(erased)";
  const format = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" });
  let words;
  if (!reading.knownAt) words = `Showing ${name} as things stood on ${when}, as known now`;
  else if (reading.knownAt === reading.asOf) words = `Showing ${name} as an agent saw it on ${when}`;
  else words = `Showing ${name} as things stood on ${when}, as known on ${format(reading.knownAt)}`;
  banner.hidden = false;
  $("#asof-banner-text").textContent = words;
}

function section(title, content, extra = {}) {
  return el("section", { class: "card", "aria-label": title, ...extra }, el("h3", {}, title), content);
}

/** A labelled bar: the words say everything, the bar only shows it (aria-hidden). */
function bar(label, share, words, { tone = "", max = 1 } = {}) {
  const fill = el("span", { class: `bar-fill ${tone}` });
  const ratio = Math.max(0, Math.min(1, Number(share) / max || 0));
  fill.style.width = `${(ratio * 100).toFixed(1)}%`; // CSSOM: allowed by the CSP
  return el("li", { class: "bar-row" },
    el("span", { class: "bar-label" }, label),
    el("span", { class: "bar", "aria-hidden": "true" }, fill),
    el("span", { class: "bar-words" }, words));
}

// SPEC §4's default weights: shown only when they reproduce the base the API sent (a
// deployment may configure others, and the loyalty JSON does not carry them yet).
const DEFAULT_WEIGHTS = { recency: 0.35, frequency: 0.25, monetary: 0.3, engagement: 0.1 };
const COMPONENTS = ["recency", "frequency", "monetary", "engagement"];

function weightsOf(l) {
  if (l.weights && COMPONENTS.every((c) => typeof Number(l.weights[c]) === "number")) {
    return Object.fromEntries(COMPONENTS.map((c) => [c, Number(l.weights[c])]));
  }
  const base = 100 * COMPONENTS.reduce((sum, c) => sum + DEFAULT_WEIGHTS[c] * Number(l[c] || 0), 0);
  return Math.abs(base - Number(l.base)) < 0.01 ? DEFAULT_WEIGHTS : null;
}

const plural = (n, one, many = `${one}s`) => `${n} ${Number(n) === 1 ? one : many}`;

function daysBetween(from, to) {
  return Math.floor((new Date(to) - new Date(from)) / 86_400_000);
}

/** The loyalty score explained: a bar per component with its weight and the counts behind it. */
function loyaltyExplained(l, view) {
  if (l.score === null || l.score === undefined) return el("p", {}, "No loyalty score.");
  const weights = weightsOf(l);
  const o = view.orders || {};
  const asOf = l.as_of || view.as_of;
  const lastOrder = o.last_order_time
    ? `last order ${plural(Math.max(0, daysBetween(o.last_order_time, asOf)), "day")} ago`
    : "no orders";
  const spend = `${show(l.net_spend_in_window)} ${l.base_currency ?? ""}`.trim();
  const basis = {
    recency: `${lastOrder} (full within 30 days, none after 365)`,
    frequency: `${plural(l.orders_in_window ?? 0, "order")} in the last 365 days`,
    monetary: `${spend} net spend in the last 365 days${(l.unconverted_currencies || []).length
      ? `; not counted: ${l.unconverted_currencies.join(", ")}` : ""}`,
    engagement: `${plural(l.engagements_in_window ?? 0, "inbound contact or survey answer",
      "inbound contacts and survey answers")} in the last 90 days`,
  };
  const names = { recency: "Recency (R)", frequency: "Frequency (F)", monetary: "Monetary (M)", engagement: "Engagement (E)" };
  const rows = COMPONENTS.map((c) => {
    const value = Number(l[c] || 0);
    const weighed = weights
      ? ` × weight ${percent(weights[c])} = ${(100 * weights[c] * value).toFixed(1)} points`
      : "";
    return bar(names[c], value, `${percent(value)}${weighed}: ${basis[c]}`);
  });
  const penaltyWords = `−${l.penalty} points: ${plural(l.open_complaints ?? 0, "open complaint")}, ${
    plural(l.breaches_in_window ?? 0, "SLA breach", "SLA breaches")} in the last 365 days (at most 30)`;
  rows.push(
    bar("Base", Number(l.base), `${Number(l.base).toFixed(1)} of 100 points`, { max: 100, tone: "base" }),
    bar("Penalty", Number(l.penalty), penaltyWords, { max: 30, tone: "penalty" }),
  );
  return el("div", { class: "loyalty" },
    el("p", { class: "score" }, el("strong", {}, `Score ${l.score}`), ` (${l.tier ?? "no tier"}) `,
      el("span", { class: "muted" }, `= base ${Number(l.base).toFixed(1)} − penalty ${l.penalty}, rounded`)),
    el("ul", { class: "bars", "aria-label": "Loyalty components" }, rows),
    weights ? null : el("p", { class: "muted" },
      "This deployment weighs the components its own way; the API does not say how."));
}

/** The churn figures with the reasons an agent can repeat, or why there are none. */
function churnFacts(churn) {
  if (churn.risk === null || churn.risk === undefined) {
    return el("p", {}, (churn.reasons || []).join("; ") || "No churn figures.");
  }
  const level = churn.level ? ` (${churn.level})` : "";
  return el("div", {},
    el("ul", { class: "bars" }, bar("Churn risk", churn.risk,
      `${percent(churn.risk)}${level} chance of no order in the next 90 days`,
      { tone: churn.risk >= 0.5 ? "penalty" : "" })),
    facts([
      ["Still buying (BG/NBD)", percent(churn.p_alive)],
      ["Orders expected in 90 days", churn.expected_orders_90d],
      ["Model", churn.model],
    ]), el("ul", {}, (churn.reasons || []).map((r) => el("li", {}, r))));
}

function completenessBar(completeness) {
  if (!completeness || completeness.share === undefined) return null;
  const missing = completeness.missing || [];
  return el("ul", { class: "bars" }, bar("Complete", completeness.share,
    `${percent(completeness.share)} of the expected fields${missing.length ? `; missing: ${missing.join(", ")}` : ""}`));
}

function money(byCurrency) {
  const parts = Object.entries(byCurrency || {}).map(([currency, amount]) => `${amount} ${currency}`);
  return parts.length ? parts.join(", ") : "—";
}

function productsSection(products) {
  return section("Products bought", el("ul", { class: "products" }, products.map((p) => el("li", { class: "product" },
    el("h4", {}, `${p.name ?? p.sku} `, el("span", { class: "muted" }, `(${p.sku})`)),
    el("p", {}, `${plural(p.count, "item")} in ${plural(p.orders, "order")}; net spend ${money(p.net_spend)}; last bought `,
      time(p.last_time)),
    el("section", { class: "past-issues", "aria-label": `Past issues with ${p.name ?? p.sku}` },
      el("h5", {}, "Past issues with this product"),
      (p.complaints || []).length
        ? el("ul", {}, p.complaints.map((c) => el("li", { class: c.status === "open" ? "issue-open" : null },
          `${c.complaint_id}: ${c.status}${c.status === "open" ? " (still open)" : ""}, ${
            [c.category, c.priority].filter(Boolean).join(", ")}${c.order_id ? `, order ${c.order_id}` : ""}, opened `,
          time(c.opened_at))))
        : el("p", { class: "muted" }, "None."))))));
}

function socialSection(identities) {
  return section("Social identities", el("ul", {}, identities.map((s) => el("li", {},
    `${s.platform ?? "?"}: ${s.handle ?? "(erased)"} — ${plural(s.contacts, "contact")}, first seen `,
    time(s.first_seen), ", last seen ", time(s.last_seen)))));
}

function profileHistorySection(changes) {
  return section("Profile changes", el("ol", { class: "changes" }, changes.map((c) => el("li", {},
    time(c.time), ` ${(c.fields || []).join(", ") || c.type || "change"}`,
    ` ${c.by ?? (c.actor ? `by ${c.actor.kind} ${c.actor.id ?? ""}`.trim() : "(who: not recorded)")}`))));
}

/** Each promised follow-up in words: who promised it, when and on which channel, and
 * whether it is still open (and overdue) or when it was closed. */
function followUpsSection(followUps) {
  return section("Follow-ups", el("ul", {}, followUps.map((f) => el("li", { class: f.overdue ? "overdue" : null },
    `Promised by ${f.agent_id ?? "an agent"}${f.channel ? ` (${f.channel})` : ""} on `, time(f.opened_at),
    f.status === "open" ? [": open, due ", time(f.due_at)] : [": closed ", time(f.closed_at)],
    f.overdue ? el("strong", { class: "overdue-word" }, " Overdue") : null))));
}

function renderCard(view) {
  const p = view.profile || {};
  $("#customer-title").textContent = `${p.name ?? "(erased)"} — ${view.customer_id}`;
  const identity = [`Status: ${view.status}`];
  if (view.resolved_from) identity.push(`Opened as ${view.resolved_from}, merged into ${view.customer_id}`);
  if (view.merged_ids && view.merged_ids.length) identity.push(`Merged duplicates: ${view.merged_ids.join(", ")}`);
  $("#customer-identity").textContent = identity.join(" · ");

  const l = view.loyalty || {};
  const o = view.orders || {};
  const c = view.complaints || {};
  const k = view.contacts || {};
  const s = view.satisfaction || {};
  const raisedFlags = Object.entries(view.flags || {}).filter(([, on]) => on).map(([name]) => name);
  const present = (list) => Array.isArray(list) && list.length > 0;
  $("#customer-card").replaceChildren(
    section("Profile", el("div", {}, facts([
      ["Name", p.name ?? "(erased)"], ["E-mail", p.email], ["Phone", p.phone],
      ["Address", p.address], ["Country", p.country], ["Segment", p.segment],
      ["Language", p.language], ["Acquired via", view.acquisition_channel],
      ["Missing", view.completeness && view.completeness.missing.length
        ? `${view.completeness.missing.join(", ")} (${Math.round(view.completeness.share * 100)} % complete)`
        : "nothing"],
    ]), completenessBar(view.completeness))),
    section("Status and owner", facts([
      ["Status", view.status],
      ["Owner", view.owner ? `${view.owner.name ?? ""} (${view.owner.id ?? "?"})` : null],
      ["Owner since", view.owner ? time(view.owner.since) : null],
      ["Consents", view.consents], ["Last event", time(view.last_event_time)],
      ["Events", view.event_count],
    ])),
    section("Loyalty", loyaltyExplained(l, view), { class: "card card-wide" }),
    section("Flags", raisedFlags.length || (view.anomalies || []).length
      ? el("ul", { class: "flags" }, [
        ...raisedFlags.map((f) => el("li", { class: "flag" }, f.replaceAll("_", " "))),
        ...(view.anomalies || []).map((a) => el("li", { class: "flag" },
          `${a.reason.replaceAll("_", " ")}: ${a.summary} (`, time(a.raised_at), `, ${a.status})`)),
      ])
      : el("p", {}, "No flags raised.")),
    section("Churn risk", churnFacts(view.churn || {})),
    section("Purchase pattern", el("div", {}, facts([
      ["Orders", o.count], ["Lifetime value", o.lifetime_value],
      ["Average order", o.average_order_value], ["First order", time(o.first_order_time)],
      ["Last order", time(o.last_order_time)],
      ["Days between orders", o.mean_days_between_orders],
      ["Next order expected", time(o.predicted_next_order_time)],
    ]), el("div", { id: "purchase-history", class: "sparkline" }))),
    section("Complaints and contacts", facts([
      ["Open complaints", c.open], ["Complaints in total", c.total],
      ["SLA breaches", c.sla_breaches],
      ["Contacts", k.total], ["By channel", k.by_channel],
      ["Last complaint", c.last
        ? `${c.last.complaint_id ?? "?"} (${[c.last.status, c.last.priority, c.last.category].filter(Boolean).join(", ")})`
        : null],
      ["Last contact", k.last_time ? el("span", {}, time(k.last_time), ` via ${show(k.last_channel)}`) : null],
      ["NPS (last / average)", `${show(s.nps_last)} / ${show(s.nps_average)}`],
      ["CSAT (last / average)", `${show(s.csat_last)} / ${show(s.csat_average)}`],
    ])),
    present(view.follow_ups) ? followUpsSection(view.follow_ups) : null,
    present(view.products) ? productsSection(view.products) : null,
    present(view.social_identities) ? socialSection(view.social_identities) : null,
    present(view.profile_history) ? profileHistorySection(view.profile_history) : null,
  );
}

// ---------------------------------------------------------------- purchase sparkline

const MONTHS = 12;
const monthWords = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric" });

/** Orders placed in each of the last 12 months (as of the moment shown), from the
 * timeline's order entries: a small SVG bar line, with the same numbers as text. */
async function showPurchases(customerId, wanted, view) {
  const page = await call(`/customers/${encodeURIComponent(customerId)}/timeline`, {
    params: { type: "crm.order.placed", limit: 500, as_of: reading.asOf, known_at: reading.knownAt },
  }).catch(() => null);
  const box = $("#purchase-history");
  if (shownCustomer !== wanted || !box || !page) return;
  const end = new Date(reading.asOf || view.as_of || Date.now());
  const months = Array.from({ length: MONTHS }, (_, i) => {
    const start = new Date(end.getFullYear(), end.getMonth() - (MONTHS - 1 - i), 1);
    return { start, orders: 0, amounts: {} };
  });
  const first = months[0].start;
  for (const item of page.entries) {
    const at = new Date(item.time);
    if (at < first || at > end) continue;
    const index = (at.getFullYear() - first.getFullYear()) * 12 + at.getMonth() - first.getMonth();
    const month = months[index];
    if (!month) continue;
    month.orders += 1;
    const currency = item.data?.currency;
    if (currency) month.amounts[currency] = (month.amounts[currency] || 0) + Number(item.data.amount || 0);
  }
  const most = Math.max(1, ...months.map((m) => m.orders));
  const width = 12 * MONTHS;
  const height = 32;
  const total = months.reduce((n, m) => n + m.orders, 0);
  const words = months.filter((m) => m.orders).map((m) => `${monthWords.format(m.start)}: ${plural(m.orders, "order")}${
    Object.keys(m.amounts).length ? ` (${Object.entries(m.amounts).map(([cur, v]) => `${v.toFixed(2)} ${cur}`).join(", ")})` : ""}`);
  const summary = `Orders per month, ${monthWords.format(first)} to ${monthWords.format(end)}: ${plural(total, "order")}${
    words.length ? `; ${words.join("; ")}` : ""}.`;
  const picture = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "purchase-history-words",
    class: "spark",
  }, svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "spark-axis" }),
  months.map((m, i) => {
    const h = m.orders ? Math.max(3, (m.orders / most) * (height - 4)) : 0;
    return svg("rect", { x: i * 12 + 2, y: height - 1 - h, width: 8, height: h, class: "spark-bar" },
      svg("title", {}, document.createTextNode(`${monthWords.format(m.start)}: ${plural(m.orders, "order")}`)));
  }));
  box.replaceChildren(el("h4", {}, "Purchase history (12 months)"), picture,
    el("p", { id: "purchase-history-words", class: "spark-words" }, summary));
}

/** Duplicate candidates and recommended products, read after the card: the card must not
 * wait for them. */
async function showCandidates(customerId, wanted) {
  // Both are judged now: left out of a card shown as of a past moment.
  if (reading.asOf) return;
  const id = encodeURIComponent(customerId);
  const [duplicates, recommended] = await Promise.all([
    call(`/customers/${id}/duplicates`).catch(() => null),
    call(`/customers/${id}/recommendations`).catch(() => null),
  ]);
  if (shownCustomer !== wanted) return;
  const card = $("#customer-card");
  if (duplicates) {
    card.append(section("Possible duplicates", duplicates.candidates.length
      ? el("ul", { class: "candidates" }, duplicates.candidates.map((c) => el("li", {},
        el("a", { href: `#/customers/${encodeURIComponent(c.customer_id)}` },
          `${c.name ?? "(erased)"} — ${c.customer_id}`),
        ` (${Math.round(c.score * 100)} % likely): ${c.reasons.join("; ")}`)))
      : el("p", {}, "No other record looks like this customer.")));
  }
  if (recommended) {
    card.append(section("Might buy next", recommended.recommendations.length
      ? el("ul", {}, recommended.recommendations.map((r) => el("li", {}, `${r.sku}: ${r.reason}`)))
      : el("p", {}, "No product stands out for this customer yet.")));
  }
}

// ---------------------------------------------------------------- timeline

const timeline = { customerId: null, cursor: null, loading: false, generation: 0, count: 0 };

function filters() {
  const form = $("#timeline-filters");
  const since = form.since.value;
  const until = form.until.value;
  // Dates are the agent's local days; "until" includes its whole day.
  const endOfDay = (day) => {
    const next = new Date(`${day}T00:00`);
    next.setDate(next.getDate() + 1);
    return next.toISOString();
  };
  return {
    type: form.type.value,
    channel: form.channel.value.trim(),
    since: since ? new Date(`${since}T00:00`).toISOString() : "",
    until: until ? endOfDay(until) : "",
  };
}

function setUpTimeline() {
  const form = $("#timeline-filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadTimeline(timeline.customerId);
  });
  // The type family applies at once: it is the filter agents change most.
  form.type.addEventListener("change", () => loadTimeline(timeline.customerId));
  form.addEventListener("reset", () => setTimeout(() => loadTimeline(timeline.customerId)));
  $("#timeline-more").addEventListener("click", () => loadMore());
  // Endless scrolling: when the sentinel below the list comes into view, read the next page.
  timeline.observer = new IntersectionObserver((seen) => {
    if (seen.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: "200px" });
}

function loadTimeline(customerId) {
  if (!customerId) return;
  timeline.customerId = customerId;
  timeline.cursor = null;
  timeline.count = 0;
  timeline.generation += 1; // pages of an older filter are dropped when they arrive
  timeline.loading = false;
  $("#timeline-entries").replaceChildren();
  loadMore(true);
}

async function loadMore(first = false) {
  if (timeline.loading || (!first && !timeline.cursor)) return;
  const generation = timeline.generation;
  timeline.loading = true;
  const status = $("#timeline-status");
  const more = $("#timeline-more");
  status.textContent = "Loading…";
  try {
    const page = await call(`/customers/${encodeURIComponent(timeline.customerId)}/timeline`, {
      params: {
        ...filters(), limit: PAGE_SIZE, cursor: timeline.cursor,
        as_of: reading.asOf, known_at: reading.knownAt,
      },
    });
    if (generation !== timeline.generation) return;
    for (const item of page.entries) addEntry(item);
    timeline.count += page.entries.length;
    timeline.cursor = page.next_cursor;
    more.hidden = !timeline.cursor;
    status.textContent = timeline.count === 0
      ? "No entries match these filters."
      : `${timeline.count} entries shown${timeline.cursor ? "; scroll or press Load more for older ones" : "; that is all"}.`;
  } catch (error) {
    if (generation !== timeline.generation) return;
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  } finally {
    if (generation === timeline.generation) {
      timeline.loading = false;
      // Observing again fires at once if the sentinel is still in view (a short page).
      const sentinel = $("#timeline-sentinel");
      timeline.observer.unobserve(sentinel);
      if (timeline.cursor) timeline.observer.observe(sentinel);
    }
  }
}

// An icon per kind of entry (inline SVG, aria-hidden) beside its name in words: the
// colour of the entry's edge and its icon are never the only sign of what it is.
const KINDS = {
  account: { words: "Account", icon: ["M8 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M2 15c0-3.3 2.7-5 6-5s6 1.7 6 5z"] },
  contact: { words: "Contact", icon: ["M1.5 3.5h13v9h-13z", "M1.5 3.5 8 9l6.5-5.5"] },
  order: { words: "Order", icon: ["M2 5h12l-1 9H3z", "M5.5 5V3.5a2.5 2.5 0 0 1 5 0V5"] },
  complaint: { words: "Complaint", icon: ["M8 1.5 15 14H1z", "M8 6v4", "M8 11.5v1"] },
  survey: { words: "Survey", icon: ["M8 1.5l2 4.3 4.6.5-3.4 3.1 1 4.6L8 11.7 3.8 14l1-4.6-3.4-3.1 4.6-.5z"] },
  alert: { words: "Alert", icon: ["M4 11V7a4 4 0 0 1 8 0v4l1.5 2h-11z", "M6.5 14.5a1.5 1.5 0 0 0 3 0"] },
  other: { words: "Other", icon: ["M8 2a6 6 0 1 0 0 12A6 6 0 0 0 8 2z"] },
};
// SLA clocks and alerts are alerts to the agent; anything unknown is "other".
const kindOf = (type) => {
  const family = type.split(".")[1] || "other";
  if (family === "sla" || family === "alert") return "alert";
  return KINDS[family] ? family : "other";
};

function icon(kind) {
  return svg("svg", { viewBox: "0 0 16 16", width: 16, height: 16, class: `icon icon-${kind}`,
    "aria-hidden": "true", focusable: "false" },
  KINDS[kind].icon.map((d) => svg("path", { d })));
}

/** Entries come newest first (or oldest first): a day's group is opened when its first
 * entry arrives and later pages add to the last group while the day is the same. */
function addEntry(item) {
  const list = $("#timeline-entries");
  const { key, words } = localDay(item.time);
  let group = list.lastElementChild;
  if (!group || group.dataset.day !== key) {
    const id = `timeline-day-${key}`;
    group = el("li", { class: "day", "data-day": key },
      el("h4", { class: "day-title", id }, words),
      el("ol", { class: "entries", "aria-labelledby": id }));
    list.append(group);
  }
  group.querySelector("ol").append(entry(item));
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

function entry(item) {
  const family = item.type.split(".")[1] || "other";
  const kind = kindOf(item.type);
  const at = el("time", { datetime: item.time, title: item.time }, clock.format(new Date(item.time)));
  return el("li", { class: `entry entry-${family}`, "data-type": item.type, "data-kind": kind },
    el("div", { class: "entry-head" },
      el("span", { class: "entry-kind" }, icon(kind), KINDS[kind].words),
      at,
      el("span", { class: "entry-type" }, item.type),
      item.channel ? el("span", { class: "entry-channel" }, item.channel) : null),
    el("p", { class: "entry-summary" }, item.summary));
}
