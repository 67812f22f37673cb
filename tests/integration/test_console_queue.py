"""The console's agent's-day views in a real browser: "My queue" first after sign-in
(live, overdue rows marked), the customer as of a past moment as it was known then, the
loyalty score explained in bars, the timeline by day, keyboard shortcuts and deep links;
each view screenshotted and audited with axe-core (no serious or critical violation).

Same service and browser as ``test_console.py`` (its fixtures). ``GET /queue`` is the
real endpoint when the service has it; the queue's rendering, polling and j / k are also
checked against an answer of its documented shape served by the browser (``page.route``),
so they do not depend on which customers the live queue holds.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.events import hours_ago, order
from tests.integration.conftest import ServiceUnderTest, wait_until
from tests.integration.test_console import (
    CUSTOMER,
    DUPLICATE,
    SHOTS,
    SLASHED,
    Console,
    audit,
    browser,  # noqa: F401 (a fixture)
    console,  # noqa: F401 (a fixture)
    shot,
    sign_in,
)
from tests.integration.test_console import expect as _expect

expect = _expect
pytestmark = pytest.mark.integration

ZONE = "Europe/Berlin"  # the agent's browser is not on UTC: local times are converted


def queue_answer(now: datetime, *, extra: bool = False) -> dict[str, Any]:
    """A /queue answer of the documented shape, soonest first."""
    def iso(t: datetime) -> str:
        return t.isoformat()

    items = [
        {"kind": "complaint", "due_at": iso(now - timedelta(hours=2)), "overdue": True,
         "customer_id": CUSTOMER, "customer_name": "Console Tester",
         "owner": {"id": "A-042", "name": "Agent Zed"}, "title": "Parcel lost (high, delivery)",
         "deadline": "first_response", "complaint_id": "K-CON-2", "task_id": None,
         "alert_id": None, "alert_kind": None},
        {"kind": "follow_up", "due_at": iso(now + timedelta(hours=1)), "overdue": False,
         "customer_id": SLASHED, "customer_name": "Slash Tester",
         "owner": {"id": "A-042", "name": "Agent Zed"}, "title": "Call back about the refund",
         "deadline": None, "complaint_id": None, "task_id": "T-1", "alert_id": None,
         "alert_kind": None},
        {"kind": "alert", "due_at": iso(now + timedelta(hours=3)), "overdue": False,
         "customer_id": DUPLICATE, "customer_name": None, "owner": None,
         "title": "Contact fatigue: 4 outbound contacts in 7 days", "deadline": None,
         "complaint_id": None, "task_id": None, "alert_id": "fatigue:C-CONSOLE-DUP:1",
         "alert_kind": "contact_fatigue"},
    ]
    if extra:
        items.append({"kind": "complaint", "due_at": iso(now + timedelta(hours=5)), "overdue": False,
                      "customer_id": CUSTOMER, "customer_name": "Console Tester",
                      "owner": {"id": "A-042", "name": "Agent Zed"}, "title": "Parcel lost (high, delivery)",
                      "deadline": "resolution", "complaint_id": "K-CON-2", "task_id": None,
                      "alert_id": None, "alert_kind": None})
    return {"agent": "Agent Zed", "generated_at": iso(now), "items": items}


def new_page(browser: Any) -> tuple[Any, list[str]]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=ZONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script("""window.cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(
            `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));""")
    page.set_default_timeout(15_000)
    return page, errors


def test_the_queue_comes_first_and_the_customer_can_be_seen_as_known_then(
    console: Console, browser: Any, pg_service: ServiceUnderTest  # noqa: F811
) -> None:
    admin = {"Authorization": f"Bearer {console.admin_key}"}
    page, errors = new_page(browser)
    page.goto(console.base + "/")
    sign_in(page, console.agent_key)

    # ------------------------------------------------ the real GET /queue
    expect(page).to_have_url(re.compile("#/queue$"))
    expect(page.get_by_role("heading", name="My queue")).to_be_focused()
    expect(page.get_by_role("link", name="My queue")).to_have_attribute("aria-current", "page")
    real = httpx.get(f"{console.base}/queue", headers=admin, params={"owner": "A-042"})
    status = page.locator("#queue-status")
    if real.status_code == 404:
        # Not built yet: the view says so, in words.
        expect(status).to_contain_text("not available from this service yet")
    else:
        assert real.status_code == 200, real.text
        body = real.json()
        assert set(body) >= {"agent", "generated_at", "items"}
        page.get_by_label("Owner (agent id)").fill("A-042")
        page.get_by_role("button", name="Show queue").click()
        ours = [i for i in body["items"] if i["customer_id"] == CUSTOMER and i["kind"] == "complaint"]
        assert ours and all(i["complaint_id"] == "K-CON-2" for i in ours), body
        row = page.locator("#queue-table tbody tr", has_text="K-CON-2").first
        expect(row.get_by_role("link", name=re.compile(CUSTOMER))).to_have_attribute(
            "href", f"#/customers/{CUSTOMER}")
        dues = [i["due_at"] for i in body["items"]]
        assert dues == sorted(dues, key=datetime.fromisoformat)  # soonest first
        audit(page, "queue-live")

    # ------------------------------------------------ the queue's documented shape
    now = datetime.now(UTC)
    answers = [queue_answer(now), queue_answer(now, extra=True)]
    asked: list[str] = []

    def fulfil(route: Any) -> None:
        asked.append(route.request.url)
        body = answers[0] if len(asked) == 1 else answers[1]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.clock.install()
    page.route(re.compile(r"/queue(\?.*)?$"), fulfil)
    page.reload()  # the same page afresh: its fake clock installed, its /queue served here
    rows = page.locator("#queue-table tbody tr")
    expect(rows).to_have_count(3)
    expect(status).to_contain_text("3 items in the queue for Agent Zed, 1 overdue")
    overdue = rows.nth(0)
    expect(overdue).to_have_class(re.compile("overdue"))
    expect(overdue).to_contain_text("Overdue")  # in words, not only in colour
    expect(overdue).to_contain_text("first response due")
    expect(rows.nth(1)).not_to_contain_text("Overdue")
    expect(rows.nth(2)).to_contain_text("contact fatigue")
    expect(rows.nth(2)).to_contain_text("unassigned")
    assert page.locator("#queue-table tbody tr.overdue").count() == 1
    links = rows.get_by_role("link")
    expect(links).to_have_count(3)
    assert links.evaluate_all("a => a.map(x => x.getAttribute('href'))") == [
        f"#/customers/{CUSTOMER}", "#/customers/web%2FC-SLASH", f"#/customers/{DUPLICATE}"]
    expect(page.locator("#queue-status")).to_have_attribute("aria-live", "polite")
    shot(page, "queue")
    audit(page, "queue")

    # Live: read again every 15 s, the change announced politely ...
    page.clock.run_for(15_500)
    expect(rows).to_have_count(4)
    expect(status).to_contain_text("Changed since the last update: 1 new, 0 gone.")
    # ... but not while the tab is hidden.
    polled = len(asked)
    page.evaluate("""() => { Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
        document.dispatchEvent(new Event("visibilitychange")); }""")
    page.clock.run_for(60_000)
    assert len(asked) == polled, asked
    with page.expect_request(re.compile(r"/queue(\?.*)?$")):  # read at once on coming back
        page.evaluate("""() => { Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
            document.dispatchEvent(new Event("visibilitychange")); }""")

    # ------------------------------------------------ keyboard shortcuts
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next customer in my queue")
    shot(page, "shortcuts")
    audit(page, "shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # j / k: next and previous customer of the queue (each customer once, in queue order).
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"#/customers/{CUSTOMER}$"))
    expect(page.locator("#customer-title")).to_have_text(f"Console Tester — {CUSTOMER}")
    expect(page.locator("#customer-title")).to_be_focused()  # focus follows the route
    expect(page.locator("#announcer")).to_have_text("Customer 1 of 3 in your queue.")
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile("#/customers/web%2FC-SLASH$"))
    expect(page.locator("#customer-title")).to_have_text(f"Slash Tester — {SLASHED}")
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(f"#/customers/{CUSTOMER}$"))
    expect(page.locator("#customer-title")).to_have_text(f"Console Tester — {CUSTOMER}")
    # "/" focuses the search box; typing there never fires a shortcut.
    page.keyboard.press("/")
    search = page.get_by_role("combobox", name=re.compile("Search"))
    expect(search).to_be_focused()
    search.press_sequentially("jk?", delay=20)
    expect(search).to_have_value("jk?")
    expect(page).to_have_url(re.compile(f"#/customers/{CUSTOMER}$"))
    expect(dialog).to_be_hidden()
    search.fill("")
    page.get_by_label("Channel").press_sequentially("j", delay=20)
    expect(page).to_have_url(re.compile(f"#/customers/{CUSTOMER}$"))
    page.get_by_label("Channel").fill("")
    page.unroute(re.compile(r"/queue(\?.*)?$"))
    page.clock.resume()

    # ------------------------------------------------ loyalty explained
    card = page.locator("#customer-card")
    loyalty = card.get_by_role("region", name="Loyalty")
    score = httpx.get(f"{console.base}/customers/{CUSTOMER}/loyalty", headers=admin).json()
    bars = loyalty.get_by_role("list", name="Loyalty components").get_by_role("listitem")
    expect(bars).to_have_count(6)
    expect(bars.nth(0)).to_contain_text(f"Recency (R){round(score['recency'] * 100)} % × weight 35 %")
    expect(bars.nth(1)).to_contain_text(f"{score['orders_in_window']} orders in the last 365 days")
    expect(bars.nth(2)).to_contain_text(f"{score['net_spend_in_window']} EUR net spend")
    expect(bars.nth(3)).to_contain_text(
        f"{score['engagements_in_window']} inbound contacts and survey answers in the last 90 days")
    expect(bars.nth(4)).to_contain_text(f"{score['base']:.1f} of 100 points")
    expect(bars.nth(5)).to_contain_text(f"−{score['penalty']} points: 1 open complaint")
    expect(loyalty).to_contain_text(f"Score {score['score']} ({score['tier']})")
    assert not re.search(r"\d\.\d{3,}", loyalty.inner_text()), loyalty.inner_text()  # no raw floats
    widths = loyalty.locator(".bar-fill").evaluate_all("f => f.map(x => parseFloat(x.style.width))")
    assert abs(widths[0] - score["recency"] * 100) < 0.1, widths
    expect(card.get_by_role("region", name="Churn risk")).to_be_visible()
    expect(card.get_by_role("region", name="Profile", exact=True)).to_contain_text("Complete")
    # The purchase sparkline, with its words.
    history = card.locator("#purchase-history")
    expect(history.locator("svg[role=img]")).to_have_attribute("aria-labelledby", "purchase-history-words")
    expect(history.locator("#purchase-history-words")).to_contain_text("3 orders")
    expect(history.locator("rect.spark-bar")).to_have_count(12)
    loyalty.scroll_into_view_if_needed()
    loyalty.screenshot(path=str(SHOTS / "loyalty.png"))
    shot(page, "loyalty-card")
    audit(page, "customer-card")
    # Sections of the 360 that are there only when the 360 has them.
    view = httpx.get(f"{console.base}/customers/{CUSTOMER}", headers=admin).json()
    for key, title in (("products", "Products bought"), ("social_identities", "Social identities"),
                       ("profile_history", "Profile changes"), ("follow_ups", "Follow-ups")):
        assert view[key], key
        expect(card.get_by_role("region", name=title, exact=True)).to_have_count(1)
    grinder = card.get_by_role("region", name="Products bought").locator("li.product", has_text="SKU-1")
    expect(grinder).to_contain_text("3 items in 3 orders")
    expect(grinder.get_by_role("region", name=re.compile("Past issues with"))).to_contain_text("K-CON-2")
    expect(card.get_by_role("region", name="Social identities")).to_contain_text("@tester@social.example")
    expect(card.get_by_role("region", name="Profile changes")).to_contain_text("system routing")
    expect(card.get_by_role("region", name="Follow-ups")).to_contain_text("Promised by A-042 (social)")

    # ------------------------------------------------ timeline grouped by day
    days = page.locator("#timeline-entries > li.day")
    expect(days.first.locator("h4")).to_be_visible()
    grouped = page.evaluate("""() => [...document.querySelectorAll('#timeline-entries > li.day')].map(d => ({
        day: d.dataset.day, title: d.querySelector('h4').textContent,
        entries: [...d.querySelectorAll('li.entry')].map(e => {
            const t = new Date(e.querySelector('time').getAttribute('datetime'));
            const p = (n) => String(n).padStart(2, '0');
            return { local: `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}`,
                     kind: e.querySelector('.entry-kind').textContent,
                     icon: e.querySelector('.entry-kind svg').getAttribute('aria-hidden') };
        }) }))""")
    assert len(grouped) > 1
    assert [g["day"] for g in grouped] == sorted((g["day"] for g in grouped), reverse=True)
    assert len({g["day"] for g in grouped}) == len(grouped)  # a day once, pages joined
    for group in grouped:
        assert all(e["local"] == group["day"] for e in group["entries"]), group
        assert all(e["icon"] == "true" for e in group["entries"])
    kinds = {e["kind"] for g in grouped for e in g["entries"]}
    assert {"Alert", "Contact"} <= kinds, kinds
    page.locator("#timeline-entries").scroll_into_view_if_needed()
    shot(page, "timeline-by-day")
    page.get_by_label("Type").select_option(label="Order")
    expect(page.locator("#timeline-entries li.entry")).to_have_count(3)
    expect(page.locator("#timeline-entries li.entry").first.locator(".entry-kind")).to_have_text("Order")

    # ------------------------------------------------ as of, as it was known then
    # A moment, then an order that happened before it but is recorded after it: "as known
    # then" leaves it out, as the agent working then could not see it.
    time.sleep(1.2)
    seen_at = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.2)
    late = order(CUSTOMER, hours_ago(2), "O-CON-LATE", amount="10.00", event_id="console-late")
    pg_service.publish(pg_service.settings.topic_orders, late, key=CUSTOMER)
    pg_service.flush()

    def recorded() -> bool:
        entries = httpx.get(f"{console.base}/customers/{CUSTOMER}/timeline", headers=admin,
                            params={"type": "crm.order.placed"}).json()["entries"]
        card = httpx.get(f"{console.base}/customers/{CUSTOMER}", headers=admin).json()
        return card["orders"]["count"] == 4 and any(
            e["data"].get("order_id") == "O-CON-LATE" for e in entries)

    wait_until(recorded, timeout=60, what="the late order to be recorded")
    page.reload()
    orders_now = card.get_by_role("region", name="Purchase pattern")
    expect(orders_now).to_contain_text("Orders4")
    local = seen_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S")
    shown = local.removesuffix(":00")  # a datetime-local input drops zero seconds
    page.get_by_label("As of (your local time)").fill(local)
    page.get_by_role("button", name="Show as known then").click()
    iso = seen_at.isoformat().replace("+00:00", ".000Z")
    expect(page).to_have_url(re.compile(re.escape(
        f"#/customers/{CUSTOMER}?as_of={iso}&known_at={iso}".replace(":", "%3A"))))
    banner = page.locator("#asof-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Showing Console Tester as an agent saw it on")
    expect(banner.get_by_role("link", name="back to now")).to_have_attribute("href", f"#/customers/{CUSTOMER}")
    expect(orders_now).to_contain_text("Orders3")
    expect(page.get_by_label("As of (your local time)")).to_have_value(shown)
    page.get_by_label("Type").select_option(label="Order")
    expect(page.locator("#timeline-entries li.entry")).to_have_count(3)
    expect(page.locator("#timeline-entries")).not_to_contain_text("O-CON-LATE")
    shot(page, "customer-as-of")
    audit(page, "customer-as-of")
    # The deep link carries it: opened afresh, the same view.
    deep = page.url
    page.goto("about:blank")
    page.goto(deep)
    expect(banner).to_be_visible()
    expect(orders_now).to_contain_text("Orders3")
    # As of the past but as known now: the late order is there.
    page.goto(console.base + f"/#/customers/{CUSTOMER}?as_of={seen_at.isoformat().replace('+', '%2B')}")
    expect(banner).to_be_visible()
    expect(orders_now).to_contain_text("Orders4")
    banner.get_by_role("link", name="back to now").click()
    expect(banner).to_be_hidden()
    expect(page.get_by_label("As of (your local time)")).to_have_value("")

    # ------------------------------------------------ deep links to every view
    for hash_, heading in (("#/alerts", "Alerts"), ("#/segments", "Segments"), ("#/queue", "My queue")):
        page.goto(console.base + "/" + hash_)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_focused()
    page.goto(console.base + "/#/reports/contact_channel_mix")
    expect(page.locator("figure[data-report=contact_channel_mix]")).to_be_focused()
    assert errors == [], errors
    assert page.evaluate("window.cspViolations") == []
