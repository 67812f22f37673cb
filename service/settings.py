"""All configuration of the service, read from ``CRM_*`` environment variables.

One class, so that every setting, its default and its meaning live in one place;
``crm-timeline config`` prints them. Defaults work with the local scripts
(``scripts/kafka.sh``, ``scripts/postgres.sh``); ``docker-compose.yml`` overrides
the host names. A wrong value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.anomalies import AnomalyPolicy
from domain.customer360 import FatiguePolicy, Policies
from domain.loyalty import LoyaltyPolicy
from domain.sla_policy import DEFAULT_POLICY_BOOK
from projections.shards import Shard
from service.sla_config import load_policy_book, parse_policy_book

REPO_ROOT = Path(__file__).resolve().parent.parent


def _pairs(value: str) -> dict[str, Decimal]:
    """'a=1,b=2.5' as {'a': Decimal('1'), 'b': Decimal('2.5')}."""
    pairs = {}
    for item in value.split(","):
        name, _, number = item.strip().partition("=")
        try:
            pairs[name.strip()] = Decimal(number.strip())
        except InvalidOperation:
            raise ValueError(f"expected NAME=NUMBER pairs separated by commas, got {item!r}") from None
        if not name.strip():
            raise ValueError(f"expected NAME=NUMBER pairs separated by commas, got {item!r}")
    return pairs


#: The settings behind the domain's policies (with the SLA policy file): a generation of
#: the 360 keeps the values it was built with (``projections/generation_policies.py``).
POLICY_SETTINGS = (
    "loyalty_base_currency", "loyalty_exchange_rates", "loyalty_weights", "loyalty_tiers",
    "loyalty_monetary_target", "loyalty_frequency_target", "loyalty_engagement_target",
    "fatigue_max_outbound", "fatigue_window_days", "anomaly_amount_mads",
    "anomaly_burst_orders", "anomaly_burst_minutes", "anomaly_refund_share",
    "anomaly_takeover_hours",
)


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
    postgres_pool_size: int = Field(
        10, ge=1, description="Connections per process (the API serves that many reads at once)."
    )

    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", min_length=1, description="Kafka bootstrap servers, comma separated."
    )
    kafka_security_protocol: Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"] = Field(
        "plaintext", description="How every Kafka client connects (librdkafka's security.protocol)."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism, with a sasl_* protocol."
    )
    kafka_sasl_username: str = Field("", description="SASL user name, with a sasl_* protocol.")
    kafka_sasl_password: str = Field("", description="SASL password, with a sasl_* protocol.")
    kafka_ssl_ca_file: str = Field(
        "", description="CA certificates (PEM) to trust the brokers by; empty: the system's."
    )
    kafka_ssl_cert_file: str = Field("", description="Client certificate (PEM), for mutual TLS.")
    kafka_ssl_key_file: str = Field("", description="Client private key (PEM), for mutual TLS.")
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
    topic_replication_factor: int = Field(
        1, ge=1, description="Replicas of each topic the service creates (3 on a real cluster)."
    )
    deadletter_retention_days: float = Field(
        28, gt=0, description="How long the dead-letter topic keeps a letter (the event store "
        "keeps every letter whatever this says)."
    )
    consumer_group: str = Field("crm-timeline", min_length=1, description="Kafka consumer group.")
    consumer_session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        description="Kafka group session timeout: how soon a dead consumer's partitions move.",
    )
    consumer_batch_size: int = Field(
        2000, ge=1, le=100_000, description="Most Kafka records stored in one transaction."
    )
    max_future_seconds: int = Field(
        86_400, ge=0, description="Events timed further ahead than this are dead-lettered."
    )

    projection_batch_size: int = Field(
        2000, ge=1, description="Stored events applied to a read model per transaction."
    )
    projection_poll_seconds: float = Field(
        0.1, gt=0, description="Pause between store polls when a projection has caught up."
    )
    projection_shards: int = Field(
        1, ge=1, le=64, description="Projector processes the customers are split across "
        "(each keeps the customers whose stream id falls in its shard; every process of a "
        "deployment must say the same). Changing it needs fresh views: `crm-timeline replay`."
    )
    projection_shard: int = Field(
        0, ge=0, description="Which shard this `project` process keeps: 0 to "
        "CRM_PROJECTION_SHARDS - 1."
    )
    projections: str = Field(
        "all",
        pattern=r"^-?[a-z0-9_]+(,-?[a-z0-9_]+)*$",
        description="Read models this `project` process keeps: all, or names separated by "
        "commas (timeline, customer360, complaint_sla, a report's name), -name leaving one "
        "out (all,-timeline); run several processes with disjoint sets to use more cores.",
    )

    anomaly_amount_mads: float = Field(
        5.0, gt=0, description="An order this many robust deviations (scaled median absolute "
        "deviation) above the customer's median order in its currency is flagged "
        "(amount_outlier), if also 3 times that median.")
    anomaly_burst_orders: int = Field(
        3, ge=2, description="This many orders within CRM_ANOMALY_BURST_MINUTES are flagged "
        "(order_burst).")
    anomaly_burst_minutes: float = Field(10.0, gt=0, description="The window of an order burst.")
    anomaly_refund_share: float = Field(
        0.6, gt=0, le=1, description="Refunds on at least this share of at least 5 orders are "
        "flagged (refund_heavy).")
    anomaly_takeover_hours: float = Field(
        2.0, gt=0, description="An order this soon after the e-mail or phone changed is "
        "flagged (contact_change_then_order).")

    loyalty_base_currency: str = Field(
        "EUR", pattern=r"^[A-Z]{3}$", description="Currency of the loyalty score's monetary part."
    )
    loyalty_exchange_rates: str = Field(
        "EUR=1,USD=0.92,GBP=1.17,CHF=1.05,SEK=0.088,DKK=0.134,NOK=0.086,PLN=0.23",
        description="Value of one unit of each currency in the base currency, CUR=rate,...; "
        "spend in other currencies is left out of the score.",
    )
    loyalty_weights: str = Field(
        "recency=0.35,frequency=0.25,monetary=0.30,engagement=0.10",
        description="Weights of the four loyalty components.",
    )
    loyalty_tiers: str = Field(
        "platinum=80,gold=60,silver=40", description="Lowest score of each tier above bronze."
    )
    loyalty_monetary_target: Decimal = Field(
        Decimal(2000), gt=0, description="Net yearly spend (base currency) that maxes out M."
    )
    loyalty_frequency_target: int = Field(12, ge=1, description="Yearly orders that max out F.")
    loyalty_engagement_target: int = Field(
        5, ge=1, description="Inbound contacts and surveys in 90 days that max out E."
    )
    fatigue_max_outbound: int = Field(
        3, ge=0, description="Outbound contacts allowed in the window before fatigue."
    )
    fatigue_window_days: int = Field(7, ge=1, description="Trailing window of contact fatigue.")

    sla_policy_file: Path | None = Field(
        None,
        description="TOML SLA policy book (see config/sla-policy.example.toml); "
        "unset: SPEC defaults on a 24x7 clock.",
    )
    sla_check_seconds: float = Field(
        2.0, gt=0, le=60, description="How often the SLA clock looks for passed deadlines "
        "(and the follow-up clock for overdue follow-ups)."
    )
    follow_up_hours: float = Field(
        24.0, gt=0, le=24 * 366, description="When a follow-up promised without "
        "`follow_up_at` is due: this many hours after its contact.")
    topic_alerts: str = Field("crm.alerts", min_length=1, description="Where alerts are published.")
    topic_segments: str = Field("crm.segments", min_length=1,
                                description="Where segment entries and exits are published.")
    segment_seconds: float = Field(
        5.0, gt=0, description="How often segment membership follows the 360 (seconds).")
    segment_sweep_seconds: float = Field(
        900.0, gt=0, description="How often segments whose rule moves with the clock "
        "(days since, churn risk) judge every customer again.")
    alert_relay_seconds: float = Field(
        0.5, gt=0, description="Pause of the alert outbox relay when nothing waits."
    )
    webhook_seconds: float = Field(
        1.0, gt=0, description="Pause of the webhook worker (fan-out and deliveries) when "
        "nothing is due.")
    webhook_retry_base_seconds: float = Field(
        5.0, gt=0, description="Wait before a failed webhook delivery's second try; it "
        "doubles with every further failure.")
    webhook_retry_max_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two tries of a webhook delivery.")
    webhook_max_attempts: int = Field(
        10, ge=1, le=100, description="Tries of a webhook delivery before it is given up "
        "(status failed; POST /webhooks/{id}/deliveries/{event_id}/resend tries again).")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="How long a webhook receiver may take to connect, "
        "and to take or answer the request, before the try counts as failed.")
    webhooks_allow_http_localhost: bool = Field(
        False, description="Accept webhook URLs on http://127.0.0.1, http://[::1] and "
        "http://localhost (tests and local receivers); otherwise only https to public hosts.")

    ready_max_lag_seconds: float = Field(
        60.0, gt=0, description="GET /readyz answers 503 when a read model is further behind."
    )
    ready_max_stall_seconds: float = Field(
        60.0, gt=0, description="GET /readyz answers 503 when an ingestion partition with "
        "messages waiting has not advanced for longer (as watched by the API process)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port where `consume` and `project` serve Prometheus "
        "metrics (0: not served; the API serves its own at /metrics)."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json: one JSON object per line; auto: json unless on a terminal."
    )

    api_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP API.")
    api_page_size: int = Field(50, ge=1, le=1000, description="Default timeline page size.")
    api_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest HTTP request body in bytes (413 beyond it, "
        "before the key is checked); an event must fit a Kafka message anyway."
    )
    api_max_events_per_request: int = Field(
        500, ge=1, description="Most events one POST /events may carry (413 beyond it)."
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_port_pairs(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @model_validator(mode="after")
    def _shard_in_range(self) -> Settings:
        if self.projection_shard >= self.projection_shards:
            raise ValueError(f"CRM_PROJECTION_SHARD={self.projection_shard} is not one of the "
                             f"CRM_PROJECTION_SHARDS={self.projection_shards} shards "
                             f"(0 to {self.projection_shards - 1})")
        return self

    def shard(self) -> Shard:
        return Shard(self.projection_shard, self.projection_shards)

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("sasl")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"CRM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "CRM_KAFKA_SASL_USERNAME and CRM_KAFKA_SASL_PASSWORD")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError("CRM_KAFKA_SASL_USERNAME and _PASSWORD are used only with "
                             "CRM_KAFKA_SECURITY_PROTOCOL=sasl_plaintext or sasl_ssl")
        ssl_files = (self.kafka_ssl_ca_file, self.kafka_ssl_cert_file, self.kafka_ssl_key_file)
        if any(ssl_files) and not self.kafka_security_protocol.endswith("ssl"):
            raise ValueError("CRM_KAFKA_SSL_* files are used only with "
                             "CRM_KAFKA_SECURITY_PROTOCOL=ssl or sasl_ssl")
        if bool(self.kafka_ssl_cert_file) != bool(self.kafka_ssl_key_file):
            raise ValueError("CRM_KAFKA_SSL_CERT_FILE and CRM_KAFKA_SSL_KEY_FILE go together")
        for path in ssl_files:
            if path and not Path(path).is_file():
                raise ValueError(f"no such file: {path}")
        return self

    @field_validator("loyalty_exchange_rates", "loyalty_weights", "loyalty_tiers")
    @classmethod
    def _name_number_pairs(cls, value: str) -> str:
        _pairs(value)
        return value

    @field_validator("loyalty_weights")
    @classmethod
    def _four_weights(cls, value: str) -> str:
        names = set(_pairs(value))
        if names != {"recency", "frequency", "monetary", "engagement"}:
            raise ValueError("expected recency=,frequency=,monetary=,engagement=")
        return value

    def policy_record(self) -> dict[str, Any]:
        """The settings that make up the policies, as JSON (the SLA policy book as its
        file's text): what a generation of the 360 is built with, stored beside it."""
        record: dict[str, Any] = self.model_dump(mode="json", include=set(POLICY_SETTINGS))
        record["sla_policy"] = self.sla_policy_file.read_text() if self.sla_policy_file else None
        return record

    @classmethod
    def policies_from(cls, record: dict[str, Any]) -> Policies:
        """The policies a ``policy_record`` describes, whatever this process's own are."""
        fields = {name: record[name] for name in POLICY_SETTINGS if name in record}
        settings = cls(**fields, sla_policy_file=None)  # the rest from this process's own
        return settings.policies(sla_policy=record.get("sla_policy"))

    def policies(self, sla_policy: str | None = None) -> Policies:
        """The domain's policies (loyalty, contact fatigue, SLA, anomalies) from these
        settings; ``sla_policy``: the policy book's text instead of ``CRM_SLA_POLICY_FILE``."""
        if sla_policy is not None:
            sla = parse_policy_book(sla_policy)
        else:
            sla = load_policy_book(self.sla_policy_file) if self.sla_policy_file else DEFAULT_POLICY_BOOK
        weights = _pairs(self.loyalty_weights)
        tiers = sorted(_pairs(self.loyalty_tiers).items(), key=lambda kv: -kv[1])
        return Policies(
            loyalty=LoyaltyPolicy(
                weight_recency=weights["recency"],
                weight_frequency=weights["frequency"],
                weight_monetary=weights["monetary"],
                weight_engagement=weights["engagement"],
                monetary_target=self.loyalty_monetary_target,
                frequency_orders=self.loyalty_frequency_target,
                engagement_target=self.loyalty_engagement_target,
                tiers=tuple((name, int(score)) for name, score in tiers),
                base_currency=self.loyalty_base_currency,
                exchange_rates=_pairs(self.loyalty_exchange_rates),
            ),
            fatigue=FatiguePolicy(
                max_outbound=self.fatigue_max_outbound,
                window=timedelta(days=self.fatigue_window_days),
            ),
            sla=sla,
            anomaly=AnomalyPolicy(
                amount_mads=self.anomaly_amount_mads, burst_orders=self.anomaly_burst_orders,
                burst_minutes=self.anomaly_burst_minutes,
                refund_share=self.anomaly_refund_share,
                takeover_hours=self.anomaly_takeover_hours),
        )

    def topic_for(self, event_type: str) -> str:
        """The topic an event type travels on (surveys travel with contacts)."""
        family = event_type.split(".")[1]
        return {
            "account": self.topic_accounts,
            "contact": self.topic_contacts,
            "survey": self.topic_contacts,
            "order": self.topic_orders,
            "complaint": self.topic_complaints,
        }[family]

    def kafka_client(self) -> dict[str, str]:
        """How every Kafka client of the service connects, in librdkafka's names (kafka-python
        takes them through ``messaging.clients.kafka_python_options``)."""
        client = {"bootstrap.servers": self.kafka_bootstrap}
        if self.kafka_security_protocol != "plaintext":
            client["security.protocol"] = self.kafka_security_protocol
        if self.kafka_security_protocol.startswith("sasl"):
            client |= {"sasl.mechanism": self.kafka_sasl_mechanism,
                       "sasl.username": self.kafka_sasl_username,
                       "sasl.password": self.kafka_sasl_password}
        for name, path in (("ssl.ca.location", self.kafka_ssl_ca_file),
                           ("ssl.certificate.location", self.kafka_ssl_cert_file),
                           ("ssl.key.location", self.kafka_ssl_key_file)):
            if path:
                client[name] = path
        return client

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
            if not issue["loc"]:  # a rule over several variables: its message names them
                problems.append(issue["msg"].removeprefix("Value error, "))
                continue
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
