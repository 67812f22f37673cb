"""All configuration of the service, read from ``CRM_*`` environment variables.

One class, so that every setting, its default and its meaning live in one place;
``crm-timeline config`` prints them. Defaults work with the local scripts
(``scripts/kafka.sh``, ``scripts/postgres.sh``); ``docker-compose.yml`` overrides
the host names. A wrong value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore", frozen=True)

    store: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Event store and read-model backend: 'sqlite' (embedded, one file) "
        "or 'postgres'.",
    )
    sqlite_path: Path = Field(
        REPO_ROOT / ".local" / "crm-timeline.sqlite",
        description="SQLite database file when CRM_STORE=sqlite.",
    )
    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host.")
    postgres_port: int = Field(55432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_dbname: str = Field("crm_timeline", min_length=1, description="Database name.")
    postgres_user: str = Field("crm", min_length=1, description="Database user.")
    postgres_password: str = Field("crm", description="Database password.")
    postgres_schema: str = Field(
        "public", pattern=r"^[a-z_][a-z0-9_]*$", description="Schema holding all tables."
    )
    postgres_pool_size: int = Field(5, ge=1, description="Connections per pool.")

    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", min_length=1, description="Kafka bootstrap servers, comma separated."
    )
    topic_contacts: str = Field("crm.contacts", min_length=1, description="Contacts and surveys.")
    topic_orders: str = Field("crm.orders", min_length=1, description="Orders.")
    topic_complaints: str = Field("crm.complaints", min_length=1, description="Complaints.")
    topic_accounts: str = Field("crm.accounts", min_length=1, description="Account changes.")
    topic_deadletter: str = Field(
        "crm.deadletter", min_length=1, description="Rejected messages, with the reason."
    )
    topic_partitions: int = Field(
        4, ge=1, description="Partitions of the topics the service creates when missing."
    )
    consumer_group: str = Field("crm-timeline", min_length=1, description="Kafka consumer group.")
    consumer_session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        description="Kafka group session timeout: how soon a dead consumer's partitions move.",
    )
    consumer_batch_size: int = Field(
        500, ge=1, le=100_000, description="Most Kafka records stored in one transaction."
    )
    max_future_seconds: int = Field(
        86_400, ge=0, description="Events timed further ahead than this are dead-lettered."
    )

    projection_batch_size: int = Field(
        500, ge=1, description="Stored events applied to a read model per transaction."
    )
    projection_poll_seconds: float = Field(
        0.1, gt=0, description="Pause between store polls when a projection has caught up."
    )

    api_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP API.")
    api_page_size: int = Field(50, ge=1, le=1000, description="Default timeline page size.")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_port_pairs(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @property
    def ingestion_topics(self) -> tuple[str, ...]:
        return (self.topic_contacts, self.topic_orders, self.topic_complaints, self.topic_accounts)

    def postgres_dsn(self) -> str:
        return (
            f"host={self.postgres_host} port={self.postgres_port} dbname={self.postgres_dbname} "
            f"user={self.postgres_user} password={self.postgres_password}"
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`SettingsError` naming bad variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            name = "CRM_" + "_".join(str(part) for part in issue["loc"]).upper()
            problems.append(f"{name}: {issue['msg']} (got {issue.get('input')!r})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for docs and ``crm-timeline config``."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path):
            default = default.relative_to(REPO_ROOT) if default.is_relative_to(REPO_ROOT) else default
        rows.append((f"CRM_{name.upper()}", str(default), field.description or ""))
    return rows
