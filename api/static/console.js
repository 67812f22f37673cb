// The console's entry point: sign-in, hash routing between views, the notice area.

import * as alerts from "./alerts.js";
import { call, session, whenUnauthorized } from "./api.js";
import * as customers from "./customers.js";
import { $ } from "./dom.js";
import * as queue from "./queue.js";
import * as reports from "./reports.js";
import * as segments from "./segments.js";

const VIEWS = ["signin", "queue", "customers", "alerts", "reports", "segments"];
let caller = null; // {name, role} from GET /me
let current = null; // the view on screen

function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = !text;
}

function announce(text) {
  // Emptied first, so the same words said twice are announced twice.
  const box = $("#announcer");
  box.textContent = "";
  setTimeout(() => { box.textContent = text; }, 50);
}

const TITLES = {
  signin: "Sign in", queue: "My queue", customers: "Customers", alerts: "Alerts",
  reports: "Reports", segments: "Segments",
};

function showView(name) {
  const changed = current !== name;
  current = name;
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll("#main-nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name !== "queue") queue.hideQueue();
  document.title = `${TITLES[name]} – CRM agent console`;
  return changed;
}

/** Focus the view's heading after a route change, so keyboard and screen-reader users
 * start at the top of what they asked for (not left on a link that is gone). */
function focusHeading(view) {
  const heading = $(`#${view}-title`);
  if (heading) heading.focus({ preventScroll: false });
}

function signedIn(who) {
  caller = who;
  alerts.setCaller(who);
  $("#session-who").textContent = `Signed in as ${who.name} (${who.role})`;
  $("#session").hidden = false;
  $("#main-nav").hidden = false;
}

function signOut(message = "") {
  session.clear();
  caller = null;
  queue.hideQueue();
  $("#session").hidden = true;
  $("#main-nav").hidden = true;
  showView("signin");
  $("#signin-error").textContent = message;
  $("#signin-key").value = "";
  $("#signin-key").focus();
}

/** The hash as a route: #/queue, #/customers, #/customers/<id>?as_of=…&known_at=…,
 * #/alerts, #/reports, #/reports/<name>, #/segments, #/segments/<name>. */
export function parseRoute(hash = window.location.hash) {
  const raw = hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?");
  const [, view = "", id] = path.split("/");
  return { view: view || "queue", id: id ? decodeURIComponent(id) : null, query: new URLSearchParams(query) };
}

function route() {
  if (!caller) return;
  notice("");
  const { view, id, query } = parseRoute();
  if (view === "alerts") {
    if (showView("alerts")) focusHeading("alerts");
    alerts.showAlerts();
  } else if (view === "reports") {
    if (showView("reports") && !id) focusHeading("reports");
    reports.showReports(id);
  } else if (view === "segments") {
    if (showView("segments")) focusHeading("segments");
    segments.showSegments(id);
  } else if (view === "customers") {
    showView("customers");
    // The customer view focuses the customer's heading once it is read, or the search box.
    customers.showCustomer(id, { asOf: query.get("as_of"), knownAt: query.get("known_at") });
  } else {
    if (showView("queue")) focusHeading("queue");
    queue.showQueue();
  }
}

// ---------------------------------------------------------------- keyboard shortcuts

/** Typing in a field (or a select, or anything editable) never triggers a shortcut. */
function typing(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
}

async function stepThroughQueue(step) {
  const ids = await queue.customersInQueue();
  if (!ids.length) {
    announce("Your queue has no customers.");
    return;
  }
  const { view, id } = parseRoute();
  const here = view === "customers" && id ? ids.indexOf(id) : -1;
  let next = here === -1 ? (step > 0 ? 0 : ids.length - 1) : here + step;
  if (next < 0 || next >= ids.length) {
    announce(step > 0 ? "That is the last customer in your queue." : "That is the first customer in your queue.");
    next = Math.min(Math.max(next, 0), ids.length - 1);
    if (next === here) return;
  }
  announce(`Customer ${next + 1} of ${ids.length} in your queue.`);
  window.location.hash = `#/customers/${encodeURIComponent(ids[next])}`;
}

function shortcuts(event) {
  if (!caller || event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target)) return;
  const dialog = $("#shortcuts");
  if (dialog.open) return; // the dialog handles Escape itself
  if (event.key === "/") {
    event.preventDefault();
    if (parseRoute().view !== "customers") window.location.hash = "#/customers";
    // After the route has shown the view: hidden inputs cannot take focus.
    setTimeout(() => $("#search-input").focus());
  } else if (event.key === "j" || event.key === "k") {
    event.preventDefault();
    stepThroughQueue(event.key === "j" ? 1 : -1);
  } else if (event.key === "?") {
    event.preventDefault();
    dialog.showModal();
  }
}

/** The agent's queue first, unless the tab is already on a view (a deep link). No
 * hashchange: replaceState, then the caller routes once. */
function openFirst() {
  const { hash } = window.location;
  if (!hash || hash === "#" || hash === "#/") window.history.replaceState(null, "", "#/queue");
}

async function signIn(event) {
  event.preventDefault();
  const key = $("#signin-key").value.trim();
  const error = $("#signin-error");
  if (!key.startsWith("crm_")) {
    error.textContent = "An API key starts with crm_.";
    return;
  }
  error.textContent = "Checking the key…";
  try {
    const who = await call("/me", { key });
    session.save(key);
    error.textContent = "";
    signedIn(who);
    // The agent's queue first, unless the tab was already on a view (a deep link).
    openFirst();
    current = null;
    route();
  } catch (failure) {
    error.textContent = failure.status === 401
      ? `The key was not accepted: ${failure.message}.`
      : `Could not sign in: ${failure.message}.`;
  }
}

async function start() {
  for (const module of [queue, customers, alerts, reports, segments]) module.setUp({ notice, announce });
  $("#signin-form").addEventListener("submit", signIn);
  document.addEventListener("keydown", shortcuts);
  $("#show-shortcuts").addEventListener("click", () => $("#shortcuts").showModal());
  $("#sign-out").addEventListener("click", () => signOut("You are signed out."));
  whenUnauthorized((error) => signOut(`Please sign in again: ${error.message}.`));
  window.addEventListener("hashchange", route);
  // A key kept from earlier in this tab: check it is still valid before using it.
  const key = session.key();
  if (key) {
    try {
      signedIn(await call("/me"));
      openFirst();
      route();
      return;
    } catch (error) {
      // A 401 has already returned to sign-in with its message.
      if (error.status !== 401) signOut(`Could not check the saved key: ${error.message}.`);
      return;
    }
  }
  signOut();
}

start();
