"""Configuration: defaults work, and a wrong value names the variable that is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from messaging.clients import kafka_python_options
from service.settings import SettingsError, describe_settings, load_settings

pytestmark = pytest.mark.unit


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _, _ in describe_settings():
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.store == "sqlite"
    assert settings.ingestion_topics == ("crm.contacts", "crm.orders", "crm.complaints", "crm.accounts")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CRM_STORE", "oracle"),
        ("CRM_POSTGRES_PORT", "eighty"),
        ("CRM_KAFKA_BOOTSTRAP", "localhost"),
        ("CRM_CONSUMER_BATCH_SIZE", "0"),
        ("CRM_POSTGRES_SCHEMA", "Robert'); DROP TABLE"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert variable in str(raised.value)


def test_every_setting_is_documented() -> None:
    undocumented = [name for name, _, description in describe_settings() if not description]
    assert undocumented == []


def test_kafka_security_reaches_both_clients_in_their_own_words(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(kafka_bootstrap="k1:9093,k2:9093", kafka_security_protocol="sasl_ssl",
                             kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="crm",
                             kafka_sasl_password="secret", kafka_ssl_ca_file=str(ca))
    assert settings.kafka_client() == {
        "bootstrap.servers": "k1:9093,k2:9093", "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "crm", "sasl.password": "secret",
        "ssl.ca.location": str(ca)}
    assert kafka_python_options(settings.kafka_client()) == {
        "bootstrap_servers": "k1:9093,k2:9093", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "crm",
        "sasl_plain_password": "secret", "ssl_cafile": str(ca)}
    assert load_settings().kafka_client() == {"bootstrap.servers": "127.0.0.1:19092"}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"kafka_security_protocol": "sasl_ssl"}, "needs CRM_KAFKA_SASL_USERNAME and CRM_KAFKA_SASL_PASSWORD"),
        ({"kafka_sasl_username": "crm", "kafka_sasl_password": "x"}, "used only with"),
        ({"kafka_ssl_ca_file": "/etc/hosts"}, "CRM_KAFKA_SSL_* files are used only with"),
        ({"kafka_security_protocol": "ssl", "kafka_ssl_ca_file": "/no/such.pem"}, "no such file: /no/such.pem"),
        ({"kafka_security_protocol": "ssl", "kafka_ssl_cert_file": "/etc/hosts"}, "go together"),
    ],
)
def test_kafka_security_that_cannot_connect_stops_start_up_saying_why(
    settings: dict[str, str], said: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(said)) as raised:
        load_settings(**settings)
    assert "secret" not in str(raised.value) and "'x'" not in str(raised.value)
