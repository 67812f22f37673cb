"""Shared fixtures: the local Kafka broker and PostgreSQL server, started once per session.

They are the project's own servers (``scripts/kafka.sh``, ``scripts/postgres.sh``),
the same ones ``crm-timeline up`` uses; nothing on the ingestion path is mocked.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from service.settings import REPO_ROOT, Settings


def _start(script: str) -> None:
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), "start"], check=True)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    _start("kafka.sh")
    return f"127.0.0.1:{os.environ.get('CRM_KAFKA_PORT', '19092')}"


@pytest.fixture(scope="session")
def postgres_server() -> Settings:
    _start("postgres.sh")
    return Settings()
