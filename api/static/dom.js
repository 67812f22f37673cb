// Small DOM helpers. Data is always set as text, never as HTML, so names and
// summaries from upstream systems cannot inject markup.

/** el("li", {class: "x", "data-id": 1}, "text", child) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector) => document.querySelector(selector);

/** Wait until `ms` pass without another call before running `fn` (search as you type). */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A <time> showing local time, with the exact moment machine-readable. */
export function time(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return String(iso);
  return el("time", { datetime: iso, title: iso }, dateTime.format(moment));
}

/** Any value for display: null becomes a dash, objects a short key: value list. */
export function show(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.map(show).join(", ") : "—";
  if (typeof value === "object") {
    const parts = Object.entries(value).map(([k, v]) => `${k}: ${show(v)}`);
    return parts.length ? parts.join(", ") : "—";
  }
  return String(value);
}

/** A definition list from [label, value] pairs. */
export function facts(pairs) {
  return el("dl", {}, pairs.map(([label, value]) => [
    el("dt", {}, label),
    el("dd", {}, value instanceof Node ? value : show(value)),
  ]));
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element: svg("path", {d: "M0 0h4"}, child…). */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) node.append(child);
  return node;
}

/** A share 0..1 as a whole percentage for people: 0.2 -> "20 %". */
export function percent(share) {
  if (share === null || share === undefined || Number.isNaN(Number(share))) return "—";
  return `${Math.round(Number(share) * 100)} %`;
}

const day = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

/** The agent's local calendar day of a moment: a key ("2026-12-03") and its words. */
export function localDay(iso) {
  const moment = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return {
    key: `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`,
    words: day.format(moment),
  };
}
