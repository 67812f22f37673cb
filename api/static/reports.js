// Reports as bar charts (Chart.js, vendored), each with its numbers in a table too.

import { call, explain } from "./api.js";
import { $, el, show } from "./dom.js";

let notify = () => {};
const charts = []; // Chart.js instances must be destroyed before their canvas is dropped

export function setUp({ notice }) {
  notify = notice;
}

const num = (value) => (value === null || value === undefined ? 0 : Number(value));

// How to draw each known report: x labels, one dataset per series, the measured value.
// Rows of one x value and several series (e.g. channels of a month) are stacked.
const SHAPES = {
  complaint_sla_by_category: { x: "month", series: "category", value: "opened", axis: "Complaints opened" },
  contact_channel_mix: { x: "month", series: "channel", value: "contacts", axis: "Contacts" },
  lifetime_value_by_channel: { x: "channel", series: "currency", value: "lifetime_value", axis: "Lifetime value" },
  registration_cohorts: {
    x: "cohort",
    values: { customers: (r) => num(r.customers), "ordering in first month": (r) => num((r.ordering || {})["0"]) },
    axis: "Customers",
  },
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

export async function showReports() {
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
      const body = await call(`/reports/${encodeURIComponent(report.name)}`);
      list.append(figure(report, body));
      drawn += 1;
    }
    status.textContent = `${drawn} reports.`;
  } catch (error) {
    status.textContent = "";
    if (error.status !== 401) notify(explain(error));
  }
}

function figure(report, body) {
  const id = `report-${report.name}`;
  const lag = report.caught_up ? "" : ` (catching up: event ${report.position} of ${report.store_position})`;
  const box = el("figure", { class: "report", id, "data-report": report.name },
    el("figcaption", { id: `${id}-title` }, `${body.title}${lag}`));
  if (!body.rows.length) {
    box.append(el("p", { class: "muted" }, "No data yet."));
    return box;
  }
  const shape = SHAPES[report.name] || guessShape(body.columns, body.rows);
  const data = datasets(shape, body.rows);
  const canvas = el("canvas", { role: "img", "aria-label": `Bar chart: ${body.title}` });
  box.append(el("div", { class: "chart" }, canvas));
  // The same numbers as a table, for screen readers and for copying.
  box.append(el("details", {}, el("summary", {}, "Show the data"),
    el("table", {},
      el("thead", {}, el("tr", {}, body.columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, body.rows.map((r) => el("tr", {}, body.columns.map((c) => el("td", {}, show(r[c])))))))));
  // Counts of one x value stack; averages and shares stand side by side.
  const stacked = shape.stacked ?? (data.datasets.length > 1 && !shape.values && !shape.grouped);
  charts.push(new window.Chart(canvas, {
    type: "bar",
    data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // charts appear at once (and screenshots show them whole)
      scales: {
        x: { stacked, title: { display: true, text: shape.x } },
        y: { stacked, beginAtZero: true, title: { display: true, text: shape.axis } },
      },
      plugins: { legend: { display: data.datasets.length > 1, position: "bottom" } },
    },
  }));
  return box;
}
