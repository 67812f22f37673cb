"""Reports built by replaying the whole history, checked against plain loops over the facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

import projections.customer360
from domain.complaints import Complaint, record_complaint_fact
from domain.customer360 import Policies
from domain.facts import ReportedFact
from domain.merges import MergeForest
from generators import loadgen, sample
from history.arrivals import Arrival
from projections import replay
from projections.catalog import CUSTOMER_360, TIMELINE
from projections.runner import Positioned, Projector
from service import bootstrap
from service.settings import REPO_ROOT
from tests.integration.conftest import Desk, ServiceUnderTest, wait_until

pytestmark = pytest.mark.integration


def sample_facts(customers: int) -> list[ReportedFact]:
    facts = []
    for event in sample.sample_events(customers, poison=0):
        e = json.loads(event.value)
        facts.append(ReportedFact(e["id"], e["type"], e["source"], e["subject"],
                                  datetime.fromisoformat(e["time"]), e["data"]))
    return facts


def months(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def expected_channel_mix(facts):
    counts = Counter((months(f.occurred_at), f.data["channel"], f.data["direction"])
                     for f in facts if f.event_type == "crm.contact.logged")
    return {(m, c): (counts[(m, c, "inbound")], counts[(m, c, "outbound")]) for m, c, _ in counts}


def merge_roots(facts) -> dict[str, str]:
    """Each merged id's root after every merge and unmerge, in store order (the rest are
    their own root)."""
    forest = MergeForest({})
    for f in facts:
        if f.event_type == "crm.account.merged":
            forest.merge(f.customer_id, f.data["duplicate_customer_id"])
        elif f.event_type == "crm.account.unmerged":
            forest.unmerge(f.customer_id, f.data["duplicate_customer_id"])
    return {customer: forest.root(customer) for customer in forest.links}


def earliest_openings(facts, roots):
    """Each group's earliest opening fact."""
    opened = {}
    for f in facts:
        if f.event_type == "crm.account.opened":
            group = roots.get(f.customer_id, f.customer_id)
            if group not in opened or f.occurred_at < opened[group].occurred_at:
                opened[group] = f
    return opened


def expected_cohorts(facts):
    roots = merge_roots(facts)
    cohort = {g: months(f.occurred_at) for g, f in earliest_openings(facts, roots).items()}
    ordered = defaultdict(set)
    for f in facts:
        if f.event_type == "crm.order.placed":
            ordered[roots.get(f.customer_id, f.customer_id)].add(months(f.occurred_at))
    table = defaultdict(Counter)
    for customer, registered in cohort.items():
        table[registered]["customers"] += 1
        for month in ordered[customer]:
            offset = (int(month[:4]) - int(registered[:4])) * 12 + int(month[5:]) - int(registered[5:])
            if offset >= 0:
                table[registered][str(offset)] += 1
    return {c: dict(v) for c, v in table.items()}


def expected_lifetime_value(facts, policies: Policies):
    """(channel) -> (value in the base currency, customers, value per currency)."""
    roots = merge_roots(facts)
    group = lambda customer: roots.get(customer, customer)  # noqa: E731
    channel = {g: f.data.get("acquisition_channel") or "unknown"
               for g, f in earliest_openings(facts, roots).items()}
    orders, refunds, cancelled = {}, defaultdict(Decimal), set()
    for f in facts:
        if f.event_type == "crm.order.placed":
            orders[(f.customer_id, f.data["order_id"])] = (Decimal(f.data["amount"]), f.data["currency"])
        elif f.event_type == "crm.order.refunded":
            refunds[(f.customer_id, f.data["order_id"])] += Decimal(f.data["amount"])
        elif f.event_type == "crm.order.cancelled":
            cancelled.add((f.customer_id, f.data["order_id"]))
    customers = defaultdict(set)
    for g in channel:
        customers[channel[g]].add(g)
    by_currency = defaultdict(lambda: defaultdict(Decimal))
    for (customer, order_id), (amount, currency) in orders.items():
        net = Decimal(0) if (customer, order_id) in cancelled else max(amount - refunds[(customer, order_id)], Decimal(0))
        key = channel.get(group(customer), "unknown")
        by_currency[key][currency] += net
        customers[key].add(group(customer))
    rates = policies.loyalty.exchange_rates
    return {c: (f"{sum(a * rates[cur] for cur, a in by_currency[c].items() if cur in rates):.2f}",
                len(customers[c]), {cur: f"{a:.2f}" for cur, a in sorted(by_currency[c].items()) if a})
            for c in customers}


def expected_complaints(facts, policies: Policies):
    by_complaint = defaultdict(list)
    for f in facts:
        if f.event_type.startswith("crm.complaint."):
            by_complaint[f.data["complaint_id"]].append(f)
    table = defaultdict(Counter)
    for complaint_facts in by_complaint.values():
        complaints: dict[str, Complaint] = {}
        for f in sorted(complaint_facts, key=lambda f: f.occurred_at):
            record_complaint_fact(complaints, f, policies.sla)
        (complaint,) = complaints.values()
        opened_as = next(f.data["priority"] for f in complaint_facts if f.event_type == "crm.complaint.opened")
        row = table[(months(complaint.opened_at), complaint.category or "none", opened_as)]
        row["opened"] += 1
        first = complaint.deadlines[0]
        if first.met_at is not None:
            row["responded"] += 1
            row["responded_in_time"] += first.met_at <= first.due
        for d in complaint.deadlines[1:]:
            if d.name == "resolution" and d.met_at is not None:
                row["resolved"] += 1
                row["resolved_in_time"] += d.met_at <= d.due
    return {k: {name: n for name, n in v.items() if n} for k, v in table.items()}


def test_reports_added_after_the_facts_are_built_by_replay_and_equal_plain_loops(desk: Desk) -> None:
    facts = sample_facts(200)
    assert len(facts) > 3000
    desk.history.record([Arrival("test:feed", n, f) for n, f in enumerate(facts)])
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    for name in catalog.reports:
        result = replay.replay(catalog, name)
        assert (result.state, result.generation) == ("swapped", 2)

    mix = {(r["month"], r["channel"]): (r["inbound"], r["outbound"])
           for r in catalog.read("contact_channel_mix")}
    assert mix == expected_channel_mix(facts)
    cohorts = {r["cohort"]: {"customers": r["customers"], **r["ordering"]}
               for r in catalog.read("registration_cohorts")}
    assert cohorts == expected_cohorts(facts)
    value = {r["channel"]: (r["lifetime_value"], r["customers"], r["by_currency"])
             for r in catalog.read("lifetime_value_by_channel")}
    assert value == expected_lifetime_value(facts, desk.settings.policies())
    complaints = {(r["month"], r["category"], r["priority"]): {k: r[k] for k in (
        "opened", "responded", "responded_in_time", "resolved", "resolved_in_time") if r[k]}
        for r in catalog.read("complaint_sla_by_category")}
    assert complaints == expected_complaints(facts, desk.settings.policies())

    listed = [r for r in desk.client.get("/reports").json()["reports"] if r["name"] in catalog.reports]
    assert [(r["name"], r["live_generation"], r["caught_up"]) for r in listed] == [
        (name, 2, True) for name in catalog.reports]
    as_json = desk.client.get("/reports/contact_channel_mix").json()
    assert len(as_json["rows"]) == len(mix) and as_json["columns"][0] == "month"
    as_csv = desk.client.get("/reports/contact_channel_mix", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == ",".join(as_json["columns"])
    assert len(as_csv.text.splitlines()) == len(mix) + 1
    assert desk.client.get("/reports/contact_channel_mix?format=csv").text == as_csv.text
    assert desk.client.get("/reports/nope").status_code == 404


def customer_reports(catalog) -> dict:
    """What the per-customer reports say, in the shapes the plain loops give."""
    return {
        "cohorts": {r["cohort"]: {"customers": r["customers"], **r["ordering"]}
                    for r in catalog.read("registration_cohorts")},
        "value": {r["channel"]: (r["lifetime_value"], r["customers"], r["by_currency"])
                  for r in catalog.read("lifetime_value_by_channel")},
        "records": sum(r["customers"] for r in catalog.read("incomplete_records")),
        "cycles": sum(r["customers"] for r in catalog.read("sales_cycle")),
        "buyers": {r["antecedent"]: r["customers"] for r in catalog.read("purchase_affinity")
                   if r["kind"] == "product"},
    }


def expected_customer_reports(facts, policies: Policies) -> dict:
    roots = merge_roots(facts)
    buyers = defaultdict(set)
    for f in facts:
        if f.event_type == "crm.order.placed":
            for item in f.data["items"]:
                buyers[item["sku"]].add(roots.get(f.customer_id, f.customer_id))

    def groups(types):
        return len({roots.get(f.customer_id, f.customer_id) for f in facts if f.event_type in types})
    return {
        "cohorts": expected_cohorts(facts),
        "value": expected_lifetime_value(facts, policies),
        "records": groups({"crm.account.opened", "crm.account.updated", "crm.account.consent_changed",
                           "crm.account.owner_assigned", "crm.account.erasure_requested"}),
        "cycles": groups({"crm.account.opened", "crm.contact.logged"}),
        "buyers": {sku: len(buyers) for sku, buyers in buyers.items()},
    }


def test_reports_count_a_merged_customer_once_and_after_an_unmerge_as_if_never_merged(
        desk: Desk) -> None:
    facts = sample_facts(120)
    ids = sorted({f.customer_id for f in facts if f.event_type == "crm.account.opened"})
    later = max(f.occurred_at for f in facts) + timedelta(days=1)
    numbers = iter(range(1_000_000))

    def fact(kind: str, customer: str, **data) -> ReportedFact:
        return ReportedFact(f"merge-test-{next(numbers)}", kind, "test", customer, later, data)

    pairs = list(zip(ids[0:20:2], ids[1:20:2], strict=True))
    # Ten pairs, a chain (21 into 20, then 20 into 22), and a duplicate ordering in another
    # currency after its merge: it counts in its group.
    merges = [fact("crm.account.merged", a, duplicate_customer_id=b)
              for a, b in [*pairs, (ids[20], ids[21]), (ids[22], ids[20])]]
    late_order = fact("crm.order.placed", ids[1], order_id="O-late", amount="99.00", currency="SEK",
                      items=[{"sku": "X", "name": "X", "quantity": 1, "unit_price": "99.00"}])
    one_unmerged = fact("crm.account.unmerged", ids[2], duplicate_customer_id=ids[3])
    policies = desk.settings.policies()

    desk.record(*facts, *merges, late_order, one_unmerged)
    history = [*facts, *merges, late_order, one_unmerged]
    assert len(merge_roots(history)) == 11
    seen = customer_reports(desk.catalog)
    assert seen == expected_customer_reports(history, policies)
    unmerged = expected_customer_reports([*facts, late_order], policies)
    assert seen["cohorts"] != unmerged["cohorts"]  # the merges made a difference

    undo = [fact("crm.account.unmerged", a, duplicate_customer_id=b)
            for a, b in [*pairs, (ids[22], ids[20]), (ids[20], ids[21])]]
    desk.record(*undo)
    assert customer_reports(desk.catalog) == unmerged
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    for name in ("registration_cohorts", "lifetime_value_by_channel", "purchase_affinity"):
        replay.replay(catalog, name)  # a rebuild over the whole history agrees
    assert customer_reports(catalog) == unmerged


def test_reports_by_month_take_a_range_of_months(desk: Desk) -> None:
    facts = sample_facts(60)
    desk.record(*facts)
    everything = desk.client.get("/reports/contact_channel_mix").json()["rows"]
    chosen = sorted({r["month"] for r in everything})[1:3]
    ranged = desk.client.get("/reports/contact_channel_mix",
                             params={"since": chosen[0], "until": f"{chosen[1]}-15"})
    assert ranged.status_code == 200, ranged.text
    assert {r["month"] for r in ranged.json()["rows"]} == set(chosen)
    assert [(r["month"], r["channel"], r["contacts"]) for r in ranged.json()["rows"]] == [
        (r["month"], r["channel"], r["contacts"]) for r in everything if r["month"] in chosen]
    # Lifetime value over the customers acquired in the range: fewer than in all.
    some = desk.client.get("/reports/lifetime_value_by_channel", params={"until": chosen[0]})
    assert sum(r["customers"] for r in some.json()["rows"]) < sum(
        r["customers"] for r in desk.client.get("/reports/lifetime_value_by_channel").json()["rows"])
    # A report not by month has no months to choose: all its rows, and since/until null.
    unranged = desk.client.get("/reports/purchase_affinity", params={"since": "2026-01"})
    assert unranged.status_code == 200 and unranged.json()["since"] is None
    assert unranged.json()["rows"] == desk.client.get("/reports/purchase_affinity").json()["rows"]
    backwards = desk.client.get("/reports/contact_channel_mix", params={"since": "2026-05",
                                                                         "until": "2026-04"})
    assert backwards.status_code == 200 and backwards.json()["rows"] == []  # no month in it
    assert desk.client.get("/reports/contact_channel_mix",
                           params={"since": "2026-13"}).status_code == 422


def test_a_report_batch_rolled_back_is_not_kept_for_the_next_batch(desk: Desk) -> None:
    """Reports keep their rows between batches only once a batch committed: rows a
    rolled-back batch left in memory are never the start of the next."""
    facts = [f for f in sample_facts(30) if f.event_type == "crm.contact.logged"]
    desk.history.record([Arrival("test:feed", n, f) for n, f in enumerate(facts)])
    mix = desk.loop.projector().read_models
    report = next(m for m in mix if m.name == "report:contact_channel_mix")
    notifications = desk.history.recorder.select_notifications(start=1, limit=len(facts))
    batch = [Positioned(n.id, fact) for n, fact in zip(
        notifications, desk.history.facts_of(notifications, personal_data=False), strict=True)]
    with pytest.raises(RuntimeError, match="rolled back"), desk.views.write() as cursor:
        report.apply(cursor, batch)
        raise RuntimeError("rolled back")
    desk.projector.catch_up()
    counted = {(r["month"], r["channel"]): (r["inbound"], r["outbound"])
               for r in desk.catalog.read("contact_channel_mix")}
    assert counted == expected_channel_mix(facts)


def test_a_replay_killed_halfway_resumes_and_ends_with_the_same_result(desk: Desk, store) -> None:
    facts = sample_facts(300)
    desk.history.record([Arrival("test:feed", n, f) for n, f in enumerate(facts)])
    env = {**store, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "service.cli", "replay", "registration_cohorts",
               "--batch-size", "5"]
    first = subprocess.Popen(command, env={**os.environ, **env},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    tracking = catalog.projection("registration_cohorts", 2).name

    wait_until(lambda: (desk.views.position(tracking) or 0) > 300, what="the replay halfway")
    first.kill()
    first.wait()
    stopped_at = desk.views.position(tracking)
    assert stopped_at is not None and stopped_at < len(facts)
    assert catalog.generations("registration_cohorts") == (1, 2)
    finished = replay.replay(catalog, "registration_cohorts")
    assert finished.generation == 2  # resumed the interrupted build
    cohorts = {r["cohort"]: {"customers": r["customers"], **r["ordering"]}
               for r in catalog.read("registration_cohorts")}
    assert cohorts == expected_cohorts(facts)


def test_rebuilding_the_360_and_the_timeline_gives_the_rows_built_incrementally(desk: Desk) -> None:
    facts = sample_facts(150)
    for start in range(0, len(facts), 300):  # incrementally, batch by batch
        desk.record(*facts[start:start + 300])
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    rebuilt = replay.replay(catalog, CUSTOMER_360, swap=False)
    assert rebuilt.generation == 2
    incremental, fresh = catalog.read(CUSTOMER_360, 1), catalog.read(CUSTOMER_360, 2)
    assert len(incremental) == 150 and fresh == incremental
    changes = replay.diff(catalog, CUSTOMER_360)
    assert (changes.added, changes.removed, changes.changed) == ([], [], [])
    timeline = replay.replay(catalog, TIMELINE, swap=False)
    assert catalog.read(TIMELINE, timeline.generation) == catalog.read(TIMELINE, 1)
    assert len(catalog.read(TIMELINE, 1)) == len(facts)
    # Swapped in, the API reads the new generation; the old one is left for the live loop to drop.
    catalog.swap(CUSTOMER_360, 2)
    time.sleep(1.1)  # the API looks the live generation up again at most once a second
    customer = incremental[0]["customer_id"]
    assert desk.client.get(f"/customers/{customer}/timeline").json()["customer_id"] == customer
    found = desk.client.get("/customers", params={"q": customer}).json()["customers"]
    assert [c["customer_id"] for c in found] == [customer]


def test_a_rebuild_while_events_arrive_through_kafka_ends_equal_to_a_rebuild_of_a_quiet_store(
    pg_service: ServiceUnderTest,
) -> None:
    service = pg_service
    s = service.settings
    events = sample.sample_events(800, poison=1, topic_of=s.topic_for)
    first, rest = events[:1200], events[1200:]
    for event in first:
        service.producer.send(event.topic, key=event.key.encode(), value=event.value)
    service.flush()
    service.start("consume")
    service.start("project")
    wait_until(lambda: (service.history.recorder.max_notification_id() or 0) >= len(first) - 1,
               what="the first events stored")
    rebuilt = threading.Event()
    sent: list[sample.SampleEvent] = []

    def publish_until_rebuilt() -> None:
        """Paced, and for as long as the rebuilds take (the rest is more than they need)."""
        for n, event in enumerate(rest):
            if rebuilt.is_set():
                break
            service.producer.send(event.topic, key=event.key.encode(), value=event.value)
            sent.append(event)
            if n % 50 == 49:
                service.flush()
                time.sleep(0.2)
        service.flush()

    publisher = threading.Thread(target=publish_until_rebuilt)
    publisher.start()
    catalog = bootstrap.build_catalog(s, service.history, service.views)
    for name in catalog.reports:  # rebuilt and swapped in while events arrive
        assert replay.replay(catalog, name, batch_size=100).state == "swapped"
    still_arriving = publisher.is_alive()
    rebuilt.set()
    publisher.join()
    assert still_arriving and len(sent) < len(rest), "the stream ended before the rebuilds"
    stored = sum(1 for event in first + sent if not event.value.endswith(b'"broken'))
    wait_until(lambda: len(service.stored_event_ids()) == stored, what="every event stored")
    last = service.history.recorder.max_notification_id()
    for name in catalog.reports:
        live = catalog.projection(name, catalog.generations(name)[0])
        wait_until(lambda live=live: service.views.position(live.name) == last,
                   what=f"live {name} caught up")
        quiet = replay.replay(catalog, name, swap=False)  # the same events, nothing arriving
        assert catalog.read(name, quiet.generation) == catalog.read(name), name


def test_a_rebuild_started_over_the_api_reports_its_progress(desk: Desk) -> None:
    desk.history.record([Arrival("test:feed", n, f) for n, f in enumerate(sample_facts(40))])
    started = desk.client.post("/admin/replay/contact_channel_mix")
    assert started.status_code == 202 and started.json()["generation"] == 2

    def finished() -> dict | None:
        progress = desk.client.get("/admin/replay/contact_channel_mix").json()
        return progress if progress["state"] == "swapped" else None

    progress = wait_until(finished, what="the rebuild to swap in")
    assert progress["done"] == progress["total"] == desk.history.recorder.max_notification_id()
    assert desk.client.get("/reports/contact_channel_mix").json()["rows"]
    assert desk.client.post("/admin/replay/nope").status_code == 404
    assert desk.client.get("/admin/replay/registration_cohorts").status_code == 404


def test_a_360_kept_between_batches_equals_one_folded_whole_with_late_facts_merges_and_erasure(
    desk: Desk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The projection feeds a busy customer's kept fold only its new facts; facts that sort
    before what it holds, a merge and an erasure make it fold the group whole again. Reads
    are cut into slices of a few facts here, so slicing is exercised too."""
    monkeypatch.setattr(projections.customer360, "_FACTS_PER_READ", 100)
    facts = list(loadgen.reported_facts(3000, customers=40, zipf=1.1, seed=3))
    busy = Counter(f.customer_id for f in facts).most_common()
    hot, second = busy[0][0], busy[1][0]  # both with enough facts for their folds to be kept
    other = next(f.customer_id for f in facts if f.customer_id not in (hot, second))
    contacts = [f for f in facts[:2000] if f.customer_id == second
                and f.event_type == "crm.contact.logged"]
    late = [replace(f, event_id=f"late-{n}", occurred_at=f.occurred_at - timedelta(days=30))
            for n, f in enumerate(contacts[:3])]  # folded in order, the last contact changes
    assert len(late) == 3
    identity = [
        ReportedFact("merge-1", "crm.account.merged", "tests", hot, facts[1500].occurred_at,
                     {"duplicate_customer_id": other}),
        ReportedFact("unmerge-1", "crm.account.unmerged", "tests", hot, facts[2200].occurred_at,
                     {"duplicate_customer_id": other}),
        ReportedFact("erase-1", "crm.account.erasure_requested", "tests", hot,
                     facts[2600].occurred_at, {}),
    ]
    before = facts[:1500] + [identity[0]] + facts[1500:2200] + [identity[1]] + facts[2200:2600]
    after = [identity[2], *facts[2600:]]
    catalog = bootstrap.build_catalog(desk.settings, desk.history, desk.views)
    projector = Projector(desk.history, desk.views, catalog.live(CUSTOMER_360),
                          batch_size=37)
    def chunks(facts: list[ReportedFact]) -> list[list[ReportedFact]]:
        return [facts[start:start + 250] for start in range(0, len(facts), 250)]

    for chunk in [*chunks(before), *chunks(after), late]:  # the late facts in a batch alone
        desk.history.record([Arrival("test:feed", desk.offset + n, f) for n, f in enumerate(chunk)])
        desk.offset += len(chunk)
        projector.catch_up()
    replay.replay(catalog, CUSTOMER_360, swap=False)
    kept, whole = catalog.read(CUSTOMER_360, 1), catalog.read(CUSTOMER_360, 2)
    assert len(kept) == 40 and kept == whole
