// The console's entry point: sign-in, hash routing between views, the notice area.

import * as alerts from "./alerts.js";
import { call, session, whenUnauthorized } from "./api.js";
import * as customers from "./customers.js";
import { $ } from "./dom.js";
import * as reports from "./reports.js";

const VIEWS = ["signin", "customers", "alerts", "reports"];
let caller = null; // {name, role} from GET /me

function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = !text;
}

function showView(name) {
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  for (const link of document.querySelectorAll("#main-nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
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
  $("#session").hidden = true;
  $("#main-nav").hidden = true;
  showView("signin");
  $("#signin-error").textContent = message;
  $("#signin-key").value = "";
  $("#signin-key").focus();
}

// #/customers, #/customers/<id>, #/alerts, #/reports
function route() {
  if (!caller) return;
  notice("");
  const [, view = "customers", id] = window.location.hash.split("/");
  if (view === "alerts") {
    showView("alerts");
    alerts.showAlerts();
  } else if (view === "reports") {
    showView("reports");
    reports.showReports();
  } else {
    showView("customers");
    customers.showCustomer(id ? decodeURIComponent(id) : null);
  }
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
    route();
    $("#main").focus();
  } catch (failure) {
    error.textContent = failure.status === 401
      ? `The key was not accepted: ${failure.message}.`
      : `Could not sign in: ${failure.message}.`;
  }
}

async function start() {
  for (const module of [customers, alerts, reports]) module.setUp({ notice });
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut("You are signed out."));
  whenUnauthorized((error) => signOut(`Please sign in again: ${error.message}.`));
  window.addEventListener("hashchange", route);
  // A key kept from earlier in this tab: check it is still valid before using it.
  const key = session.key();
  if (key) {
    try {
      signedIn(await call("/me"));
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
