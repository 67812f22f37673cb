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


def expected_cohorts(facts):
    cohort = {f.customer_id: months(f.occurred_at) for f in facts if f.event_type == "crm.account.opened"}
    ordered = defaultdict(set)
    for f in facts:
        if f.event_type == "crm.order.placed":
            ordered[f.customer_id].add(months(f.occurred_at))
    table = defaultdict(Counter)
    for customer, registered in cohort.items():
        table[registered]["customers"] += 1
        for month in ordered[customer]:
            offset = (int(month[:4]) - int(registered[:4])) * 12 + int(month[5:]) - int(registered[5:])
            if offset >= 0:
                table[registered][str(offset)] += 1
    return {c: dict(v) for c, v in table.items()}


def expected_lifetime_value(facts):
    channel = {f.customer_id: f.data.get("acquisition_channel") or "unknown"
               for f in facts if f.event_type == "crm.account.opened"}
    orders, refunds, cancelled = {}, defaultdict(Decimal), set()
    for f in facts:
        if f.event_type == "crm.order.placed":
            orders[(f.customer_id, f.data["order_id"])] = (Decimal(f.data["amount"]), f.data["currency"])
        elif f.event_type == "crm.order.refunded":
            refunds[(f.customer_id, f.data["order_id"])] += Decimal(f.data["amount"])
        elif f.event_type == "crm.order.cancelled":
            cancelled.add((f.customer_id, f.data["order_id"]))
    value, customers = defaultdict(Decimal), defaultdict(set)
    for (customer, order_id), (amount, currency) in orders.items():
        net = Decimal(0) if (customer, order_id) in cancelled else max(amount - refunds[(customer, order_id)], Decimal(0))
        key = (channel.get(customer, "unknown"), currency)
        value[key] += net
        customers[key].add(customer)
    return {k: (f"{v:.2f}", len(customers[k])) for k, v in value.items()}


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
        row = table[(months(complaint.opened_at), complaint.category or "none")]
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
    value = {(r["channel"], r["currency"]): (r["lifetime_value"], r["customers"])
             for r in catalog.read("lifetime_value_by_channel") if r["customers"]}
    assert value == expected_lifetime_value(facts)
    complaints = {(r["month"], r["category"]): {k: r[k] for k in (
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
    events = sample.sample_events(150, poison=1, topic_of=s.topic_for)
    half = len(events) // 2
    for event in events[:half]:
        service.producer.send(event.topic, key=event.key.encode(), value=event.value)
    service.flush()
    service.start("consume")
    service.start("project")
    wait_until(lambda: (service.history.recorder.max_notification_id() or 0) >= half - 1,
               what="the first half stored")

    def publish_rest() -> None:
        for n, event in enumerate(events[half:]):
            service.producer.send(event.topic, key=event.key.encode(), value=event.value)
            if n % 50 == 49:
                service.flush()
                time.sleep(0.2)
        service.flush()

    publisher = threading.Thread(target=publish_rest)
    publisher.start()
    catalog = bootstrap.build_catalog(s, service.history, service.views)
    arriving = []
    for name in catalog.reports:  # rebuilt and swapped in while the second half arrives
        assert replay.replay(catalog, name, batch_size=100).state == "swapped"
        arriving.append(publisher.is_alive())
    assert all(arriving), "the stream ended before the rebuilds: nothing was tested"
    publisher.join()
    stored = len(events) - 1
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
