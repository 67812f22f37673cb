"""Every endpoint needs the right role: no key or a wrong one is 401, a lesser role 403."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from access.keys import KeyRing
from service import bootstrap
from service.settings import REPO_ROOT
from tests.integration.conftest import Desk

pytestmark = pytest.mark.integration

#: The role each endpoint needs; None: public. A new endpoint must be added here.
ROLES = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/asyncapi.json"): None,
    ("GET", "/customers"): "agent",
    ("GET", "/customers/{customer_id}"): "agent",
    ("GET", "/customers/{customer_id}/loyalty"): "agent",
    ("GET", "/customers/{customer_id}/duplicates"): "agent",
    ("GET", "/customers/{customer_id}/merge-preview"): "agent",
    ("GET", "/customers/{customer_id}/recommendations"): "agent",
    ("GET", "/customers/{customer_id}/timeline"): "agent",
    ("GET", "/alerts"): "agent",
    ("POST", "/alerts/{alert_id}/ack"): "agent",
    ("GET", "/queue"): "agent",
    ("GET", "/reports"): "agent",
    ("GET", "/reports/{name}"): "agent",
    ("GET", "/segments"): "agent",
    ("GET", "/segments/fields"): "agent",
    ("GET", "/segments/{name}"): "agent",
    ("GET", "/segments/{name}/members"): "agent",
    ("GET", "/segments/{name}/counts"): "agent",
    ("PUT", "/segments/{name}"): "admin",
    ("DELETE", "/segments/{name}"): "admin",
    ("POST", "/admin/replay/{name}"): "admin",
    ("GET", "/admin/replay/{name}"): "admin",
    ("POST", "/events"): "ingest",
    ("GET", "/events"): "agent",
    ("POST", "/admin/customers/{customer_id}/erase"): "admin",
    ("POST", "/admin/sla/what-if"): "admin",
    ("POST", "/webhooks"): "admin",
    ("GET", "/webhooks"): "admin",
    ("DELETE", "/webhooks/{webhook_id}"): "admin",
    ("GET", "/webhooks/{webhook_id}/deliveries"): "admin",
    ("POST", "/webhooks/{webhook_id}/deliveries/{event_id}/resend"): "admin",
}
# An unknown report or webhook: an admin gets 404, and no rebuild thread outlives the test's store.
EXAMPLE = {"customer_id": "C-1", "alert_id": "a-1", "name": "no_such_report",
           "webhook_id": "wh_0000000000000000", "event_id": "e-1"}
REFUSED = {"agent": {"ingest"}, "admin": {"agent", "ingest"}, "ingest": {"agent", "admin"}}


def routes(desk: Desk) -> list[tuple[str, str]]:
    paths = desk.client.app.openapi()["paths"]
    return sorted((method.upper(), path) for path, methods in paths.items() for method in methods)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]):
    url = path.format(**EXAMPLE)
    body = {"by": "agent-7"} if method == "POST" else None
    if path == "/alerts/{alert_id}/ack":
        body = None  # an agent acknowledges in its own name: no "by"
    if path == "/events":
        body = {"specversion": "1.0"}  # invalid: answered 422 without touching Kafka
    return client.request(method, url, headers=headers, json=body)


def test_every_endpoint_is_listed_with_its_role(desk: Desk) -> None:
    assert routes(desk) == sorted(ROLES)


@pytest.mark.parametrize(("method", "path"), sorted(k for k, v in ROLES.items() if v))
def test_missing_wrong_revoked_and_lesser_keys_get_no_data(desk: Desk, method: str, path: str) -> None:
    keys = desk.client.app.state.keys
    anonymous = TestClient(desk.client.app)
    role = ROLES[(method, path)]
    missing = call(anonymous, method, path, {})
    assert missing.status_code == 401 and "key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    for wrong in ("crm_0000_nope", "not-a-key", desk.admin_key + "x"):
        refused = call(anonymous, method, path, {"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 401, wrong
    revoked = keys.create("leaver", "admin")
    keys.revoke(revoked.split("_")[1])
    assert call(anonymous, method, path, {"X-API-Key": revoked}).status_code == 401
    for lesser in REFUSED[role]:
        key = keys.create(f"a {lesser}", lesser)
        forbidden = call(anonymous, method, path, {"X-API-Key": key})
        assert forbidden.status_code == 403 and "role" in forbidden.json()["detail"]
    allowed = call(anonymous, method, path, {"X-API-Key": keys.create("right", role)})
    assert allowed.status_code not in (401, 403)


def test_public_endpoints_need_no_key(desk: Desk) -> None:
    anonymous = TestClient(desk.client.app)
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    asyncapi = anonymous.get("/asyncapi.json").json()
    assert asyncapi["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert addresses == {desk.settings.topic_orders, desk.settings.topic_contacts,
                         desk.settings.topic_complaints, desk.settings.topic_accounts,
                         desk.settings.topic_deadletter, desk.settings.topic_alerts,
                         desk.settings.topic_segments}
    page = anonymous.get("/asyncapi")  # for people: drawn from the JSON by a local script
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/asyncapi.js">' in page.text
    assert anonymous.get("/static/asyncapi.js").status_code == 200


def test_keys_are_stored_hashed(desk: Desk) -> None:
    key = desk.client.app.state.keys.create("audit", "agent")
    secret = key.split("_", 2)[2]
    with desk.views.read() as db:
        db.execute(f"SELECT * FROM {desk.views.table('api_keys')}")
        stored = " ".join(str(v) for row in db.fetchall() for v in row.values())
    assert secret not in stored


def test_a_key_table_from_before_permissions_gets_the_column_and_its_keys_keep_working(
    desk: Desk,
) -> None:
    views = desk.views
    table = views.table("api_keys")
    old = desk.client.app.state.keys.create("old web shop", "ingest")
    with views.write() as db:  # the table as it was made before keys had permissions
        db.execute(f"CREATE TABLE {views.table('api_keys_old')} AS"
                   f" SELECT key_id, name, role, digest, created_at, revoked_at FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {views.table('api_keys_old')} RENAME TO api_keys")
    bootstrap.build_views(desk.settings, desk.history)  # a new start makes every table it reads
    keys = KeyRing(views)
    caller = keys.verify(old)
    assert caller is not None and (caller.role, caller.permissions) == ("ingest", frozenset())
    granted = keys.verify(keys.create("identity", "ingest", ["crm.account.merged"]))
    assert granted.permissions == {"crm.account.merged"}
    assert {row["name"]: row["permissions"] for row in keys.list()}["old web shop"] == ""
    bootstrap.build_views(desk.settings, desk.history)  # a second start finds the column there
    assert KeyRing(views).verify(old) is not None


def test_keys_create_allow_and_list_on_the_command_line(desk: Desk, store: dict[str, str]) -> None:
    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "service.cli", "keys", *args],
                              env={**os.environ, **store}, cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60)

    created = keys("create", "--name", "idm", "--role", "ingest",
                   "--allow", "crm.account.merged,crm.account.unmerged",
                   "--allow", "crm.account.erasure_requested")
    assert created.returncode == 0, created.stderr
    caller = desk.client.app.state.keys.verify(created.stdout.splitlines()[0])
    assert caller.permissions == {"crm.account.merged", "crm.account.unmerged",
                                  "crm.account.erasure_requested"}
    listed = [line for line in keys("list").stdout.splitlines() if "idm" in line]
    assert listed and listed[0].endswith(
        "allow crm.account.erasure_requested,crm.account.merged,crm.account.unmerged")
    for wrong in (["--role", "ingest", "--allow", "crm.order.placed"],
                  ["--role", "agent", "--allow", "crm.account.merged"]):
        refused = keys("create", "--name", "x", *wrong)
        assert refused.returncode != 0 and "crm-timeline keys:" in refused.stderr


def test_keys_that_are_not_of_our_shape_are_not_looked_up(desk: Desk) -> None:
    keys = desk.client.app.state.keys
    for key in ("crm_%_x", "crm_' OR 1=1 --_x", "crm_0000_x", "crm_ABCDEF12_x", "crm__x"):
        assert keys.verify(key) is None
    with pytest.raises(ValueError, match="one line"):
        keys.create("two\nlines", "agent")
