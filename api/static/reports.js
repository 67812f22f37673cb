// Reports as bar charts (Chart.js, vendored) or, for cohorts, a retention heatmap; each
// with its numbers in a table too. Reports by month take a range of months.

import { call, explain } from "./api.js";
import { $, el, show } from "./dom.js";

let notify = () => {};
const charts = []; // Chart.js instances must be destroyed before their canvas is dropped

export function setUp({ notice }) {
  notify = notice;
  $("#reports-range").addEventListener("submit", (event) => {
    event.preventDefault();
    showReports();
  });
}

const num = (value) => (value === null || value === undefined ? 0 : Number(value));

// How to draw each known report: x labels, one dataset per series, the measured value.
// Rows of one x value and several series (e.g. channels of a month) are stacked.
const SHAPES = {
  // Shares in time, of the complaints answered (resolved) that month, every category.
  complaint_sla_by_category: {
    x: "month",
    rates: {
      "first response in time": ["responded_in_time", "responded"],
      "resolved in time": ["resolved_in_time", "resolved"],
    },
    axis: "Share in time",
  },
  contact_channel_mix: { x: "month", series: "channel", value: "contacts", axis: "Contacts" },
  lifetime_value_by_channel: {
    x: "channel", value: "lifetime_value", axis: (rows) => `Lifetime value (${rows[0].currency})`,
  },
  registration_cohorts: { heatmap: true },
  incomplete_records: {
    x: "channel",
    values: Object.fromEntries(["email", "phone", "country", "consents", "owner"]
      .map((field) => [`missing ${field}`, (r) => num(r[`missing_${field}`])])),
    axis: "Records lacking the field",
  },
  // The strongest "bought next" rules: how many of A's buyers later bought B.
  purchase_affinity: {
    x: "rule",
    label: (r) => `${r.antecedent} → ${r.consequent}`,
    rows: (rows) => rows.filter((r) => r.kind === "follows").slice(0, 15),
    value: "confidence",
    axis: "Share of A's buyers who later bought B",
  },
  sales_cycle: {
    x: "month", series: "channel", value: "mean_days_to_first_order", grouped: true,
    axis: "Mean days to first order",
  },
  agent_performance: {
    x: "agent_id",
    values: Object.fromEntries(["resolved", "sale", "follow_up", "escalated", "no_answer", "other"]
      .map((outcome) => [outcome.replace("_", " "), (r) => num(r[outcome])])),
    stacked: true,
    axis: "Contacts by outcome",
  },
};

// An unknown report: its first column labels the bars, its first numeric column is measured.
function guessShape(columns, rows) {
  const numeric = columns.find((c) => rows.some((r) => typeof r[c] === "number"));
  return { x: columns[0], value: numeric, axis: numeric };
}

function datasets(shape, all) {
  const rows = shape.rows ? shape.rows(all) : all;
  const xOf = shape.label || ((r) => String(r[shape.x]));
  const labels = [...new Set(rows.map(xOf))];
  if (!shape.rows) labels.sort(); // a shape that picks rows keeps their order (strongest first)
  const index = new Map(labels.map((label, i) => [label, i]));
  if (shape.rates) { // a share of sums over the rows of each x value, not a sum of shares
    return {
      labels,
      datasets: Object.entries(shape.rates).map(([name, [part, whole]]) => {
        const parts = new Array(labels.length).fill(0);
        const wholes = new Array(labels.length).fill(0);
        for (const r of rows) {
          parts[index.get(xOf(r))] += num(r[part]);
          wholes[index.get(xOf(r))] += num(r[whole]);
        }
        return { label: name, data: parts.map((p, i) => (wholes[i] ? p / wholes[i] : null)) };
      }),
    };
  }
  if (shape.values) {
    return {
      labels,
      datasets: Object.entries(shape.values).map(([name, read]) => {
        const data = new Array(labels.length).fill(0);
        for (const r of rows) data[index.get(xOf(r))] += read(r);
        return { label: name, data };
      }),
    };
  }
  const bySeries = new Map();
  for (const r of rows) {
    const series = shape.series ? String(r[shape.series] ?? "none") : shape.value;
    if (!bySeries.has(series)) bySeries.set(series, new Array(labels.length).fill(0));
    bySeries.get(series)[index.get(xOf(r))] += num(r[shape.value]);
  }
  return { labels, datasets: [...bySeries].map(([label, data]) => ({ label, data })) };
}

// The chosen months (YYYY-MM, or "" for no bound), as query parameters for a report by month.
function range(report) {
  const query = new URLSearchParams();
  if (!report.by_month) return query;
  for (const bound of ["since", "until"]) {
    const value = $(`#reports-${bound}`).value;
    if (value) query.set(bound, value);
  }
  return query;
}

/** Route handler for #/reports and #/reports/<name> (that report scrolled to and focused). */
export async function showReports(name = null) {
  const status = $("#reports-status");
  const list = $("#reports-list");
  status.textContent = "Loading reports…";
  charts.splice(0).forEach((chart) => chart.destroy());
  list.replaceChildren();
  try {
    const { reports } = await call("/reports");
    let drawn = 0;
    // /reports also lists the rebuildable read models (kind "read_model"), which have no rows.
    for (const report of reports.filter((r) => r.kind === "report")) {
      const query = range(report).toString();
      const body = await call(`/reports/${encodeURIComponent(report.name)}${query ? `?${query}` : ""}`);
      list.append(figure(report, body));
      drawn += 1;
    }
    const since = $("#reports-since").value;
    const until = $("#reports-until").value;
    const months = since || until ? `; reports by month from ${since || "the start"} to ${until || "now"}` : "";
    status.textContent = `${drawn} reports${months}.`;
    const wanted = name ? document.getElementById(`report-${name}`) : null;
    if (wanted) {
      wanted.scrollIntoView({ block: "start" });
      wanted.focus();
    } else if (name) {
      notify(`No report named ${name}.`);
    }
  } catch (error) {
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
}

function figure(report, body) {
  const id = `report-${report.name}`;
  const lag = report.caught_up ? "" : ` (catching up: event ${report.position} of ${report.store_position})`;
  const box = el("figure", { class: "report", id, "data-report": report.name, tabindex: "-1",
    "aria-labelledby": `${id}-title` },
  el("figcaption", { id: `${id}-title` },
    el("a", { href: `#/reports/${encodeURIComponent(report.name)}`, class: "report-link" }, `${body.title}${lag}`)));
  if (!body.rows.length) {
    box.append(el("p", { class: "muted" }, "No data yet."));
    return box;
  }
  const shape = SHAPES[report.name] || guessShape(body.columns, body.rows);
  if (shape.heatmap) {
    box.append(heatmap(body.rows, `${id}-title`));
  } else {
    box.append(chart(shape, body));
  }
  // The same numbers as a table, for screen readers and for copying.
  box.append(el("details", {}, el("summary", {}, "Show the data"),
    el("table", {},
      el("thead", {}, el("tr", {}, body.columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, body.rows.map((r) => el("tr", {}, body.columns.map((c) => el("td", {}, show(r[c])))))))));
  return box;
}

function chart(shape, body) {
  const data = datasets(shape, body.rows);
  const canvas = el("canvas", { role: "img", "aria-label": `Bar chart: ${body.title}` });
  // Counts of one x value stack; averages and shares stand side by side.
  const stacked = shape.stacked ?? (data.datasets.length > 1 && !shape.values && !shape.grouped && !shape.rates);
  const axis = typeof shape.axis === "function" ? shape.axis(body.rows) : shape.axis;
  charts.push(new window.Chart(canvas, {
    type: "bar",
    data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // charts appear at once (and screenshots show them whole)
      scales: {
        x: { stacked, title: { display: true, text: shape.x } },
        y: { stacked, beginAtZero: true, max: shape.rates ? 1 : undefined, title: { display: true, text: axis } },
      },
      plugins: { legend: { display: data.datasets.length > 1, position: "bottom" } },
    },
  }));
  return el("div", { class: "chart" }, canvas);
}

const monthIndex = (month) => Number(month.slice(0, 4)) * 12 + Number(month.slice(5, 7)) - 1;

// The retention triangle: a row per cohort, a column per month since registration, each
// cell the share of the cohort ordering that month, darker the larger (at most 60 % of
// the blue, so the dark figures keep a WCAG AA contrast on every shade). Months not yet
// lived by a cohort (past the latest month any order shows) stay empty.
function heatmap(rows, labelledBy) {
  const latest = Math.max(...rows.map((r) => monthIndex(r.cohort)
    + Math.max(0, ...Object.keys(r.share_ordering).map(Number))));
  const width = latest - Math.min(...rows.map((r) => monthIndex(r.cohort))) + 1;
  const strongest = Math.max(0.01, ...rows.flatMap((r) => Object.values(r.share_ordering).map(num)));
  const header = el("tr", {}, el("th", { scope: "col" }, "Cohort"), el("th", { scope: "col" }, "Customers"),
    Array.from({ length: width }, (_, m) => el("th", { scope: "col" }, `M${m}`)));
  const body = rows.map((r) => {
    const lived = latest - monthIndex(r.cohort) + 1;
    const cells = Array.from({ length: width }, (_, m) => {
      if (m >= lived) return el("td", { class: "unlived" }, "");
      const share = num(r.share_ordering[String(m)]);
      const shade = (0.6 * share) / strongest;
      const cell = el("td", {
        title: `${r.cohort}, month ${m}: ${num(r.ordering[String(m)])} of ${r.customers} ordering`,
      }, `${Math.round(share * 100)}%`);
      cell.style.backgroundColor = `rgba(31, 94, 168, ${shade.toFixed(3)})`; // CSSOM: allowed by the CSP
      return cell;
    });
    return el("tr", {}, el("th", { scope: "row" }, r.cohort), el("td", {}, String(r.customers)), cells);
  });
  return el("div", { class: "heatmap" },
    el("table", { "aria-labelledby": labelledBy },
      el("thead", {}, header), el("tbody", {}, body)));
}
