// Find a customer (search as you type), their 360 card, and their timeline.

import { call, explain } from "./api.js";
import { $, debounce, el, facts, show, time } from "./dom.js";

const PAGE_SIZE = 25; // timeline entries per request: small pages keep scrolling smooth

let notify = () => {};

export function setUp({ notice }) {
  notify = notice;
  setUpSearch();
  setUpTimeline();
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

let shownCustomer = null;

/** Route handler for #/customers and #/customers/<id>. */
export async function showCustomer(customerId) {
  const article = $("#customer");
  if (!customerId) {
    article.hidden = true;
    shownCustomer = null;
    $("#search-input").focus();
    return;
  }
  if (customerId === shownCustomer) return;
  shownCustomer = customerId;
  try {
    const view = await call(`/customers/${encodeURIComponent(customerId)}`);
    if (shownCustomer !== customerId) return;
    renderCard(view);
    article.hidden = false;
    showCandidates(customerId);
    $("#timeline-filters").reset();
    // The timeline is read by the id that was asked for: the API resolves merges itself.
    loadTimeline(customerId);
  } catch (error) {
    article.hidden = true;
    shownCustomer = null;
    if (error.status !== 401) notify(explain(error));
  }
}

function section(title, content) {
  return el("section", { class: "card", "aria-label": title }, el("h3", {}, title), content);
}

/** The churn figures with the reasons an agent can repeat, or why there are none. */
function churnFacts(churn) {
  const percent = (p) => (p === null || p === undefined ? "—" : `${Math.round(p * 100)} %`);
  if (churn.risk === null || churn.risk === undefined) {
    return el("p", {}, (churn.reasons || []).join("; ") || "No churn figures.");
  }
  return el("div", {}, facts([
    ["Risk of no order in 90 days", `${percent(churn.risk)} (${churn.level})`],
    ["Still buying (BG/NBD)", percent(churn.p_alive)],
    ["Orders expected in 90 days", churn.expected_orders_90d],
    ["Model", churn.model],
  ]), el("ul", {}, (churn.reasons || []).map((r) => el("li", {}, r))));
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
  $("#customer-card").replaceChildren(
    section("Profile", facts([
      ["Name", p.name ?? "(erased)"], ["E-mail", p.email], ["Phone", p.phone],
      ["Address", p.address], ["Country", p.country], ["Segment", p.segment],
      ["Language", p.language], ["Acquired via", view.acquisition_channel],
      ["Missing", view.completeness && view.completeness.missing.length
        ? `${view.completeness.missing.join(", ")} (${Math.round(view.completeness.share * 100)} % complete)`
        : "nothing"],
    ])),
    section("Status and owner", facts([
      ["Status", view.status],
      ["Owner", view.owner ? `${view.owner.name ?? ""} (${view.owner.id ?? "?"})` : null],
      ["Owner since", view.owner ? time(view.owner.since) : null],
      ["Consents", view.consents], ["Last event", time(view.last_event_time)],
      ["Events", view.event_count],
    ])),
    section("Loyalty", facts([
      ["Score", l.score === null || l.score === undefined ? "—" : `${l.score} (${l.tier ?? "no tier"})`],
      ["R — recency", l.recency], ["F — frequency", l.frequency], ["M — monetary", l.monetary],
      ["E — engagement", l.engagement], ["Base", l.base], ["Penalty", l.penalty],
    ])),
    section("Flags", raisedFlags.length || (view.anomalies || []).length
      ? el("ul", { class: "flags" }, [
        ...raisedFlags.map((f) => el("li", { class: "flag" }, f.replaceAll("_", " "))),
        ...(view.anomalies || []).map((a) => el("li", { class: "flag" },
          `${a.reason.replaceAll("_", " ")}: ${a.summary} (${time(a.raised_at)}, ${a.status})`)),
      ])
      : el("p", {}, "No flags raised.")),
    section("Churn risk", churnFacts(view.churn || {})),
    section("Purchase pattern", facts([
      ["Orders", o.count], ["Lifetime value", o.lifetime_value],
      ["Average order", o.average_order_value], ["First order", time(o.first_order_time)],
      ["Last order", time(o.last_order_time)],
      ["Days between orders", o.mean_days_between_orders],
      ["Next order expected", time(o.predicted_next_order_time)],
    ])),
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
  );
}

/** Duplicate candidates and recommended products, read after the card: the card must not
 * wait for them. */
async function showCandidates(customerId) {
  const id = encodeURIComponent(customerId);
  const [duplicates, recommended] = await Promise.all([
    call(`/customers/${id}/duplicates`).catch(() => null),
    call(`/customers/${id}/recommendations`).catch(() => null),
  ]);
  if (shownCustomer !== customerId) return;
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
      params: { ...filters(), limit: PAGE_SIZE, cursor: timeline.cursor },
    });
    if (generation !== timeline.generation) return;
    $("#timeline-entries").append(...page.entries.map(entry));
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

function entry(item) {
  const family = item.type.split(".")[1] || "other";
  return el("li", { class: `entry entry-${family}`, "data-type": item.type },
    el("div", { class: "entry-head" },
      time(item.time),
      el("span", { class: "entry-type" }, item.type),
      item.channel ? el("span", { class: "entry-channel" }, item.channel) : null),
    el("p", { class: "entry-summary" }, item.summary));
}
