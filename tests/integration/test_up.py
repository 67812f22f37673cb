"""`crm-timeline up`, the main job: servers, sample, API, and a process per part."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from kafka.admin import KafkaAdminClient

from service.settings import REPO_ROOT
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration

TOPICS = ("contacts", "orders", "complaints", "accounts", "deadletter", "alerts")


def children(pid: int) -> dict[int, str]:
    """Child pid -> its crm-timeline command (Linux /proc)."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        found[int(child)] = cmdline[-2].decode() if len(cmdline) > 1 else ""
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except FileNotFoundError:
        return False


def test_up_serves_the_sample_with_the_timeline_in_a_projector_of_its_own(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    run, port = uuid.uuid4().hex[:8], free_port()
    topics = {t: f"u{run}.{t}" for t in TOPICS}
    env = {**os.environ, "CRM_KAFKA_BOOTSTRAP": kafka_bootstrap, "CRM_API_PORT": str(port),
           "CRM_STORE": "sqlite", "CRM_SQLITE_PATH": str(tmp_path / "up.sqlite"),
           "CRM_CONSUMER_GROUP": f"crm-up-{run}", "CRM_PROJECTION_POLL_SECONDS": "0.05",
           **{f"CRM_TOPIC_{t.upper()}": name for t, name in topics.items()}}
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "service.cli", "up", "--customers", "20"],
                              env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            said = wait_until(lambda: re.search(r"API key \(admin\):\s+(\S+)", log.read_text()),
                              timeout=120, what="the banner of up")
        except AssertionError as missing:  # say why: up's own last words
            raise AssertionError(f"{missing}; up said:\n{log.read_text()[-4000:]}") from None
        parts = children(up.pid)
        assert sorted(parts.values()) == ["consume", "project", "project"]
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"Authorization": f"Bearer {said.group(1)}"})
        entries = wait_until(
            lambda: (r := client.get("/customers/C-10000/timeline")).status_code == 200
            and r.json()["entries"], what="the sample in a timeline")
        assert all(entry["type"].startswith("crm.") for entry in entries)
        wait_until(lambda: client.get("/customers", params={"q": "C-1000"}).json()["customers"],
                   what="the sample in the 360's search (the other projector)")

        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
        wait_until(lambda: not any(running(pid) for pid in parts), timeout=30,
                   what="the consumer and projectors to stop with up")
    finally:
        if up.poll() is None:
            up.kill()
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics(list(topics.values()))
        finally:
            admin.close()
