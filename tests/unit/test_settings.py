"""Configuration: defaults work, and a wrong value names the variable that is wrong."""

from __future__ import annotations

import pytest

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
