// The AsyncAPI document for people: channels, their operations, and each message's key,
// headers and payload schema, drawn from /asyncapi.json. Text only, never HTML.
import { el, $ } from "./dom.js";

/** Follow a local `$ref` ("#/components/...") in the document. */
function resolve(doc, node) {
  let seen = 0;
  while (node && node.$ref && seen++ < 20) {
    node = node.$ref.slice(2).split("/").reduce((at, part) => at?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
  }
  return node;
}

function schemaName(ref) {
  return ref ? ref.split("/").pop() : "inline";
}

/** A header or key schema as rows: name, required, type, what it says. */
function headerTable(doc, headers) {
  const schema = resolve(doc, headers) || {};
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([name, prop]) => el("tr", {},
    el("th", { scope: "row" }, el("code", {}, name)),
    el("td", {}, required.has(name) ? "yes" : "no"),
    el("td", {}, prop.enum ? prop.enum.join(" | ") : (prop.type || "")),
    el("td", {}, prop.description || "")));
  if (!rows.length) return el("p", {}, "No headers.");
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "header"),
    el("th", { scope: "col" }, "required"), el("th", { scope: "col" }, "value"),
    el("th", { scope: "col" }, "description"))), el("tbody", {}, rows));
}

function message(doc, id, ref) {
  const m = resolve(doc, ref);
  const payloadRef = m.payload?.$ref;
  const key = m.bindings?.kafka?.key;
  return el("section", { class: "asyncapi-message", id: `message-${id}` },
    el("h4", {}, el("code", {}, m.name || id)),
    el("p", {}, m.summary || ""),
    el("dl", {},
      el("dt", {}, "content type"), el("dd", {}, el("code", {}, m.contentType || doc.defaultContentType || "")),
      el("dt", {}, "key"), el("dd", {}, key ? (key.description || key.type) : "none"),
      el("dt", {}, "payload"), el("dd", {}, el("code", {}, schemaName(payloadRef)))),
    headerTable(doc, m.headers),
    el("details", {}, el("summary", {}, `Payload schema ${schemaName(payloadRef)}`),
      el("pre", {}, JSON.stringify(resolve(doc, m.payload), null, 2))));
}

function channel(doc, id, c) {
  const ops = Object.entries(doc.operations || {})
    .filter(([, op]) => op.channel?.$ref === `#/channels/${id}`)
    .map(([name, op]) => el("li", {}, el("code", {}, name), ` (${op.action}): ${op.summary || ""}`));
  return el("section", { class: "asyncapi-channel", id: `channel-${id}` },
    el("h2", {}, el("code", {}, c.address), ` — ${id}`),
    el("p", {}, c.description || ""),
    el("h3", {}, "Operations"), el("ul", {}, ops),
    el("h3", {}, `Messages (${Object.keys(c.messages || {}).length})`),
    Object.entries(c.messages || {}).map(([mid, ref]) => message(doc, mid, ref)));
}

async function main() {
  const target = $("#channels");
  try {
    const response = await fetch("/asyncapi.json");
    if (!response.ok) throw new Error(`asyncapi.json answered ${response.status}`);
    const doc = await response.json();
    const channels = Object.entries(doc.channels || {});
    $("#channel-index").replaceChildren(...channels.map(([id, c]) =>
      el("li", {}, el("a", { href: `#channel-${id}` }, c.address))));
    target.replaceChildren(...channels.map(([id, c]) => channel(doc, id, c)));
  } catch (error) {
    target.replaceChildren(el("p", { role: "alert" }, `Could not load the document: ${error.message}`));
  }
}

main();
