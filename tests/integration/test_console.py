"""The agents' web console in a real browser (Debian's Chromium, driven by Playwright).

The service runs as in production: events published to Kafka, the ``consume``
and ``project`` processes on PostgreSQL, and the real API served over HTTP by
uvicorn. The browser signs in, searches, reads a customer's 360 card and
timeline, acknowledges an SLA alert and draws the reports. A full-page
screenshot of each view is saved to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from generators import sample
from service.settings import REPO_ROOT
from tests.events import NOW, cloud_event, contact, hours_ago, order
from tests.integration.conftest import Desk, ServedApi, ServiceUnderTest, wait_until

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO_ROOT / "artifacts" / "screenshots"
AUDITS = REPO_ROOT / "artifacts" / "axe"
#: axe-core, vendored (tests/fixtures/README.md): the accessibility audit of every view.
AXE = REPO_ROOT / "tests" / "fixtures" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
CUSTOMER = "C-CONSOLE"
DUPLICATE = "C-CONSOLE-DUP"
ERASED = "C-10001"  # one of the sample's customers
SLASHED = "web/C-SLASH"  # an id holding "/": sent as %2F, and still this customer
CONTACTS = 36  # with the account, orders and complaints: more than one page of 25


def console_customer() -> list[dict[str, Any]]:
    """One customer with a long history, an answered complaint and one left waiting."""
    def e(n: int) -> str:
        return f"console-{n}"

    events = [
        cloud_event("crm.account.opened", CUSTOMER, at=hours_ago(400), event_id=e(0), data={
            "name": "Console Tester", "email": "console.tester@example.com",
            "phone": "+49 30 5550123", "country": "DE", "segment": "vip", "language": "de",
            "acquisition_channel": "referral"}),
        cloud_event("crm.account.owner_assigned", CUSTOMER, at=hours_ago(399), event_id=e(1),
                    data={"owner_id": "A-042", "owner_name": "Agent Zed",
                          "actor": {"kind": "system", "id": "routing"}}),
    ]
    events += [order(CUSTOMER, hours_ago(380 - 20 * n), f"O-CON-{n}", amount="49.90",
                     event_id=e(10 + n)) for n in range(3)]
    events += [contact(CUSTOMER, hours_ago(300 - 5 * n), channel=("email", "phone", "chat")[n % 3],
                       event_id=e(100 + n)) for n in range(CONTACTS)]
    answered = {"complaint_id": "K-CON-1"}
    events += [
        cloud_event("crm.complaint.opened", CUSTOMER, at=hours_ago(320), event_id=e(200),
                    data={**answered, "priority": "normal", "category": "billing", "channel": "email",
                          "summary": "Charged twice"}),
        cloud_event("crm.complaint.responded", CUSTOMER, at=hours_ago(319.8), event_id=e(201),
                    data={**answered, "agent_id": "A-001"}),
        cloud_event("crm.complaint.resolved", CUSTOMER, at=hours_ago(319.5), event_id=e(202),
                    data={**answered, "agent_id": "A-001", "resolution": "Refunded"}),
        # Never answered: the SLA clock raises "at risk" and "breached" alerts for it.
        cloud_event("crm.complaint.opened", CUSTOMER, at=hours_ago(10), event_id=e(203),
                    data={"complaint_id": "K-CON-2", "priority": "high", "category": "delivery",
                          "channel": "phone", "summary": "Parcel lost", "order_id": "O-CON-2",
                          "sku": "SKU-1"}),
        # The customer wrote on social media; the agent promised to call back tomorrow.
        cloud_event("crm.contact.logged", CUSTOMER, at=hours_ago(9), event_id=e(204), data={
            "channel": "social", "platform": "mastodon", "handle": "@tester@social.example",
            "direction": "inbound", "agent_id": "A-042", "subject": "parcel lost",
            "outcome": "follow_up", "follow_up_at": (NOW + timedelta(hours=15)).isoformat()}),
    ]
    return events


class Console(ServedApi):
    """The real API app served over HTTP, with keys to sign in with."""

    def __init__(self, service: ServiceUnderTest) -> None:
        super().__init__(service.settings, service.history, service.views)
        self.admin_key = self.app.state.keys.create("Ada Admin", "admin")
        self.agent_key = self.app.state.keys.create("Alex Agent", "agent")


@pytest.fixture
def console(pg_service: ServiceUnderTest) -> Iterator[Console]:
    service = pg_service
    # A sample customer who asked to be erased: search still finds the id, with no name.
    customer = [*console_customer(), cloud_event("crm.account.erasure_requested", ERASED,
                                                 at=hours_ago(0.5), event_id="console-erase"),
                cloud_event("crm.account.opened", SLASHED, at=hours_ago(5), event_id="console-slash",
                            data={"name": "Slash Tester", "country": "AT"}),
                # the console customer again, from another system: a duplicate candidate
                cloud_event("crm.account.opened", DUPLICATE, at=hours_ago(6), event_id="console-dup",
                            data={"name": "C. Tester", "phone": "030 5550123", "country": "DE"})]
    topics = {"account": service.settings.topic_accounts, "order": service.settings.topic_orders,
              "contact": service.settings.topic_contacts, "complaint": service.settings.topic_complaints}
    for event in customer:
        service.publish(topics[event["type"].split(".")[1]], event, key=event["subject"])
    service.flush()
    # Other customers, so search has something to tell apart and reports have rows.
    others = sample.sample_events(25, topic_of=service.settings.topic_for, poison=0)
    sample.publish(others, service.settings.kafka_client(), progress=False)
    service.start("consume")
    service.start("project")
    client = service.api()

    def settled() -> bool:
        if len(service.stored_event_ids()) < len(customer) + len(others):
            return False
        reports = client.get("/reports").json()["reports"]
        alerts = client.get("/alerts", params={"customer_id": CUSTOMER, "kind": "sla_breach"})
        return all(r["caught_up"] for r in reports) and bool(alerts.json()["alerts"])

    wait_until(settled, timeout=120, what="events stored, projected and the SLA alert raised")
    with Console(service) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/test (ensure_chromium) or set CRM_CHROMIUM")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, view: str) -> None:
    page.screenshot(path=str(SHOTS / f"{view}.png"), full_page=True)


def audit(page: Any, view: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is (WCAG 2.x A and AA rules and best practices), save
    the whole result to artifacts/axe/<view>.json and fail on a serious or critical
    violation. Evaluated over the DevTools protocol, so the page's CSP (no inline
    scripts) is not loosened for it; a navigation drops it, so it is injected again."""
    if page.evaluate("typeof window.axe") != "object":
        page.evaluate(AXE.read_text())
    assert page.evaluate("axe.version") == AXE_VERSION
    result = page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ["violations"] });
        return { url: r.url, passes: r.passes.length, incomplete: r.incomplete.length,
                 violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })) })) };
    }""")
    AUDITS.mkdir(parents=True, exist_ok=True)
    (AUDITS / f"{view}.json").write_text(json.dumps(result, indent=2))
    grave = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert grave == [], f"axe-core on {view}: {json.dumps(grave, indent=2)}"
    return result["violations"]


def sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_agents_find_a_customer_read_the_timeline_acknowledge_alerts_and_see_reports(
    console: Console, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The console runs under the API's Content-Security-Policy: anything it blocked (an
    # inline script or style, a style attribute, another origin) is a violation event
    # in the page and a console message.
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.add_init_script("""window.cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(
            `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));""")
    page.set_default_timeout(15_000)
    loaded = page.goto(console.base + "/")
    assert loaded.headers["content-security-policy"].startswith("default-src 'self'")

    # Sign in: a wrong key is refused with the API's reason, the admin key is accepted.
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("OpenAPI"))).to_have_attribute("href", "/docs")
    expect(page.get_by_role("link", name=re.compile("asyncapi"))).to_have_attribute("href", "/asyncapi.json")
    sign_in(page, "crm_0000_wrong")
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    shot(page, "sign-in")
    audit(page, "sign-in")
    sign_in(page, console.admin_key)
    expect(page.locator("#session-who")).to_have_text("Signed in as Ada Admin (admin)")
    assert page.evaluate("sessionStorage.getItem('crm.console.key')") == console.admin_key
    # The agent's queue opens first; finding a customer is one link (or "/") away.
    expect(page).to_have_url(re.compile("#/queue$"))
    expect(page.get_by_role("heading", name="My queue")).to_be_focused()
    page.get_by_role("link", name="Customers", exact=True).click()
    expect(page.get_by_role("combobox", name=re.compile("Search"))).to_be_focused()

    # An erased customer is found by id and shown without a name.
    page.get_by_role("combobox", name=re.compile("Search")).fill(ERASED)
    expect(page.get_by_role("option")).to_have_count(1)
    expect(page.get_by_role("option")).to_contain_text(f"(erased) — {ERASED}")
    page.get_by_role("combobox", name=re.compile("Search")).fill("")
    expect(page.get_by_role("listbox")).to_be_hidden()

    # A customer whose id holds "/": found, opened, its card and timeline read.
    page.get_by_role("combobox", name=re.compile("Search")).fill("Slash Tester")
    expect(page.get_by_role("option")).to_have_count(1)
    page.get_by_role("combobox", name=re.compile("Search")).press("Enter")
    expect(page).to_have_url(re.compile("#/customers/web%2FC-SLASH$"))
    expect(page.locator("#customer-title")).to_have_text(f"Slash Tester — {SLASHED}")
    expect(page.locator("#timeline-entries li.entry")).to_have_count(1)
    expect(page.locator("#timeline-entries li.entry").first).to_contain_text("crm.account.opened")
    page.get_by_role("combobox", name=re.compile("Search")).fill("")

    # Search as you type: one request once typing pauses, results in a listbox.
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/customers?" in r.url else None)
    search = page.get_by_role("combobox", name=re.compile("Search"))
    search.press_sequentially("console tes", delay=40)
    option = page.get_by_role("option", name=re.compile("Console Tester"))
    expect(option).to_have_count(1)
    expect(option).to_contain_text(CUSTOMER)
    expect(page.locator("#search-status")).to_contain_text("1 customer found")
    assert 1 <= len(searches) < len("console tes"), searches  # debounced, not one per key
    assert "q=console+tes" in searches[-1]
    search.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    shot(page, "search")
    search.press("Enter")
    expect(page).to_have_url(re.compile(f"#/customers/{CUSTOMER}$"))

    # The 360 card.
    expect(page.locator("#customer-title")).to_have_text(f"Console Tester — {CUSTOMER}")
    card = page.locator("#customer-card")
    expect(card.get_by_role("region", name="Profile", exact=True)).to_contain_text("console.tester@example.com")
    expect(card.get_by_role("region", name="Profile", exact=True)).to_contain_text("vip")
    expect(card.get_by_role("region", name="Status and owner")).to_contain_text("Agent Zed (A-042)")
    loyalty = card.get_by_role("region", name="Loyalty")
    for component in ("Recency (R)", "Frequency (F)", "Monetary (M)", "Engagement (E)", "Base", "Penalty"):
        expect(loyalty).to_contain_text(component)
    expect(loyalty).to_contain_text(re.compile(r"Score \d+ \("))
    expect(card.get_by_role("region", name="Purchase pattern")).to_contain_text("Orders3")
    complaints = card.get_by_role("region", name="Complaints and contacts")
    expect(complaints).to_contain_text("Open complaints1")
    expect(complaints).to_contain_text("Complaints in total2")
    expect(card.get_by_role("region", name="Flags")).to_contain_text("open sla breach")
    duplicates = card.get_by_role("region", name="Possible duplicates")
    expect(duplicates).to_contain_text(f"C. Tester — {DUPLICATE}")
    expect(duplicates).to_contain_text("same phone number (+49…0123 in E.164)")
    expect(card.get_by_role("region", name="Might buy next")).to_be_visible()
    expect(card.get_by_role("region", name="Churn risk")).to_be_visible()

    # The timeline: newest first, one page, then more when the end of the list is scrolled to.
    entries = page.locator("#timeline-entries li.entry")
    expect(entries).to_have_count(25)
    # Every entry, the SLA alerts of the unanswered complaint among them, as the API counts them.
    total = len(httpx.get(f"{console.base}/customers/{CUSTOMER}/timeline", params={"limit": 500},
                          headers={"Authorization": f"Bearer {console.admin_key}"}).json()["entries"])
    assert total > 25
    expect(entries.first).to_contain_text("crm.sla.breached")
    expect(page.get_by_role("button", name="Load more")).to_be_visible()
    shot(page, "customer")
    audit(page, "customer")
    page.locator("#timeline-sentinel").scroll_into_view_if_needed()
    expect(entries).to_have_count(total)
    expect(page.locator("#timeline-status")).to_contain_text("that is all")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    # Only complaints, then only complaints by phone.
    page.get_by_label("Type").select_option(label="Complaint")
    expect(entries).to_have_count(4)
    types = entries.evaluate_all("items => items.map(i => i.dataset.type)")
    assert types == ["crm.complaint.opened", "crm.complaint.resolved", "crm.complaint.responded",
                     "crm.complaint.opened"]
    expect(entries.first).to_contain_text("Parcel lost")
    page.get_by_label("Channel").fill("phone")
    page.get_by_role("button", name="Apply filters").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("phone")
    shot(page, "timeline-filtered")

    # Open SLA alerts: the admin acknowledges the breach of the unanswered complaint.
    page.get_by_role("link", name="Alerts").click()
    row = page.locator("tbody tr", has_text=CUSTOMER).filter(has_text="SLA breached")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Complaint K-CON-2")
    expect(row.locator(".alert-state")).to_have_text("open")
    shot(page, "alerts")
    audit(page, "alerts")
    row.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(row.locator(".alert-state")).to_have_text("acknowledged by Ada Admin")
    expect(page.locator("#alerts-status")).to_contain_text("Acknowledged")
    stored = console.app.state.read_side
    with stored.views.read() as db:
        acknowledged = stored.alert_book.get(db, "sla:K-CON-2:first_response:0:breach")
    assert acknowledged is not None and acknowledged["acknowledged_by"] == "Ada Admin"

    # Reports drawn as Chart.js bar charts.
    page.get_by_role("link", name="Reports").click()
    mix = page.locator("figure[data-report=contact_channel_mix]")
    expect(mix.locator("figcaption")).to_have_text("Contact channel mix by month")
    expect(mix.locator("canvas")).to_be_visible()
    reports = [r["name"] for r in httpx.get(
        f"{console.base}/reports", headers={"Authorization": f"Bearer {console.admin_key}"}
    ).json()["reports"] if r["kind"] == "report"]
    with_rows = [name for name in reports if httpx.get(
        f"{console.base}/reports/{name}",
        headers={"Authorization": f"Bearer {console.admin_key}"}).json()["rows"]]
    assert {"incomplete_records", "sales_cycle", "agent_performance",
            "purchase_affinity"} <= set(with_rows)
    assert "registration_cohorts" in with_rows  # drawn as a heatmap, the rest as charts
    expect(page.locator("figure.report canvas")).to_have_count(len(with_rows) - 1)
    drawn = mix.locator("canvas").evaluate(
        "c => { const chart = Chart.getChart(c); return chart && [chart.config.type,"
        " chart.data.labels.length, chart.data.datasets.length]; }")
    assert drawn[0] == "bar" and drawn[1] > 0 and drawn[2] > 0, drawn
    compliance = page.locator("figure[data-report=complaint_sla_by_category] canvas").evaluate(
        "c => Chart.getChart(c).data.datasets.map(d => [d.label, d.data.every("
        "v => v === null || (v >= 0 && v <= 1))])")
    assert compliance == [["first response in time", True], ["resolved in time", True]]
    shot(page, "reports")
    audit(page, "reports")

    # Cohorts as a retention triangle: a row per cohort, a cell per month since registration
    # with the share ordering, as the API gives it.
    cohorts = httpx.get(f"{console.base}/reports/registration_cohorts",
                        headers={"Authorization": f"Bearer {console.admin_key}"}).json()["rows"]
    heatmap = page.locator("figure[data-report=registration_cohorts] .heatmap table")
    expect(heatmap.locator("tbody tr")).to_have_count(len(cohorts))
    first = heatmap.locator("tbody tr").first
    expect(first.locator("th")).to_have_text(cohorts[0]["cohort"])
    expect(first.locator("td").nth(1)).to_have_text(
        f"{round(cohorts[0]['share_ordering'].get('0', 0) * 100)}%")
    heatmap.scroll_into_view_if_needed()
    page.locator("figure[data-report=registration_cohorts]").screenshot(
        path=str(SHOTS / "retention-heatmap.png"))
    # A range of months: reports by month show only those.
    month = cohorts[-1]["cohort"]
    page.get_by_label("From month").fill(month)
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#reports-status")).to_contain_text(f"from {month} to now")
    expect(heatmap.locator("tbody tr")).to_have_count(1)
    page.get_by_label("From month").fill("")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(heatmap.locator("tbody tr")).to_have_count(len(cohorts))

    # Segments: an admin defines one over HTTP, the running projector builds it, and the
    # console lists it with its members, each one click from the customer.
    admin = {"Authorization": f"Bearer {console.admin_key}"}
    rule = {"any": [{"field": "profile.segment", "eq": "vip"},
                    {"field": "orders.count", "gte": 3}]}
    defined = httpx.put(f"{console.base}/segments/frequent-or-vip", headers=admin, json={
        "rule": rule, "description": "VIPs, and customers with three orders or more"})
    assert defined.status_code == 200, defined.text

    def built() -> bool:
        listed = httpx.get(f"{console.base}/segments", headers=admin).json()["segments"]
        return bool(listed) and listed[0]["built"]

    wait_until(built, timeout=60, what="the projector to build the segment")
    in_segment = [m["customer_id"] for m in httpx.get(
        f"{console.base}/segments/frequent-or-vip/members", params={"limit": 1000},
        headers=admin).json()["members"]]
    assert CUSTOMER in in_segment and len(in_segment) > 3
    page.get_by_role("link", name="Segments", exact=True).click()
    listed = page.locator("#segments-list tr").first
    expect(listed).to_contain_text("profile.segment eq \"vip\"")
    expect(listed.locator("td.number")).to_have_text(str(len(in_segment)))
    listed.get_by_role("link", name="frequent-or-vip").click()
    expect(page.locator("#segment-members-rows tr")).to_have_count(min(len(in_segment), 50))
    expect(page.locator("#segment-members-status")).to_contain_text("members shown now")
    shot(page, "segment-members")
    audit(page, "segments")
    page.locator("#segment-members-rows").get_by_role("link", name=CUSTOMER, exact=True).click()
    expect(page.locator("#view-customers")).to_be_visible()
    expect(page.locator("#view-customers")).to_contain_text("Console Tester")
    page.get_by_role("link", name="Reports").click()
    expect(page.locator("#reports-status")).to_have_text(f"{len(reports)} reports.")

    # An agent acknowledges in their own name; a revoked key returns to sign-in.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-error")).to_have_text("You are signed out.")
    sign_in(page, console.agent_key)
    expect(page.locator("#session-who")).to_have_text("Signed in as Alex Agent (agent)")
    expect(page.locator("#reports-status")).to_have_text(f"{len(reports)} reports.")  # back where it was
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("#alerts-table tbody tr").first).to_be_visible()
    expect(page.locator("#alerts-role-note")).to_be_hidden()
    alert_id = page.locator("#alerts-table tbody tr").filter(
        has=page.get_by_role("button", name=re.compile("Acknowledge"))).first.get_attribute("data-alert-id")
    open_row = page.locator(f'#alerts-table tbody tr[data-alert-id="{alert_id}"]')
    open_row.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(open_row.locator(".alert-state")).to_have_text("acknowledged by Alex Agent")
    console.app.state.keys.revoke(console.agent_key.split("_")[1])
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("navigation", name="Console sections")).to_be_hidden()
    expect(page.locator("#signin-error")).to_contain_text("Please sign in again")
    assert errors == [], errors
    assert page.evaluate("window.cspViolations") == [] and blocked == [], blocked


def test_me_names_the_caller_and_the_console_is_served_without_a_key(desk: Desk) -> None:
    from fastapi.testclient import TestClient

    assert desk.client.get("/me").json() == {"name": "tests", "role": "admin"}
    anonymous = TestClient(desk.client.app)
    assert anonymous.get("/me").status_code == 401
    assert anonymous.get("/me", headers={"Authorization": "Bearer crm_0000_nope"}).status_code == 401
    agent = desk.client.app.state.keys.create("an agent", "agent")
    assert anonymous.get("/me", headers={"X-API-Key": agent}).json()["role"] == "agent"
    page = anonymous.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="/static/console.js"' in page.text
    assert anonymous.get("/static/console.js").status_code == 200
    assert "Chart.js v4" in anonymous.get("/static/vendor/chart.umd.min.js").text[:200]
    assert "/me" not in desk.client.app.openapi()["paths"]  # console routes are not the API


def test_the_asyncapi_page_draws_every_channel_from_the_document(
        pg_service: ServiceUnderTest, browser: Any) -> None:
    """Linked from the console's footer, under the console's CSP, with no CDN."""
    with Console(pg_service) as console:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.add_init_script("""window.cspViolations = [];
            document.addEventListener("securitypolicyviolation", (e) =>
                window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));""")
        page.set_default_timeout(15_000)
        page.goto(console.base + "/")
        page.get_by_role("link", name="Kafka events (AsyncAPI)").click()
        expect(page).to_have_url(console.base + "/asyncapi")
        s = pg_service.settings
        addresses = [s.topic_contacts, s.topic_orders, s.topic_complaints, s.topic_accounts,
                     s.topic_deadletter, s.topic_alerts, s.topic_segments]
        index = page.get_by_role("navigation", name="Channels")
        for address in addresses:
            expect(index.get_by_role("link", name=address, exact=True)).to_be_visible()
            expect(page.get_by_role("heading", level=2, name=re.compile(re.escape(address)))
                   ).to_be_visible()
        breach = page.locator("#message-crm\\.sla\\.breached")
        expect(breach.get_by_role("rowheader", name="alert_id")).to_be_visible()
        expect(breach.get_by_role("rowheader", name="content-type")).to_be_visible()
        binary = page.locator("#message-crm\\.order\\.placed\\.binary")
        expect(binary.get_by_role("rowheader", name="ce_specversion")).to_be_visible()
        expect(page.locator("#message-deadLetter").get_by_role(
            "rowheader", name="dlq.reason")).to_be_visible()
        breach.get_by_text("Payload schema").click()
        expect(breach.locator("pre")).to_contain_text('"crm.sla.breached"')
        shot(page, "asyncapi")
        audit(page, "asyncapi")
        assert errors == [] and page.evaluate("window.cspViolations") == []
