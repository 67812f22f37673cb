"""The SLA policy file: the documented example loads, mistakes are named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.settings import REPO_ROOT
from service.sla_config import SlaConfigError, load_policy_book, parse_policy_book

pytestmark = pytest.mark.unit


def test_the_example_file_loads_with_defaults_filled_in() -> None:
    book = load_policy_book(REPO_ROOT / "config" / "sla-policy.example.toml")
    old = book.policy_for(datetime(2026, 6, 1, tzinfo=UTC))
    new = book.policy_for(datetime(2027, 6, 1, tzinfo=UTC))
    assert (old.version, new.version) == ("2026-spec-defaults", "2027-office-hours")
    assert old.targets_for("low", None).resolution == timedelta(hours=168)
    assert new.targets_for("high", None).resolution == timedelta(hours=16)
    assert new.targets_for("normal", "billing").resolution == timedelta(hours=48)
    assert new.targets_for("normal", "billing").first_response == timedelta(hours=24)
    friday = datetime(2027, 1, 8, 16, 30, tzinfo=UTC)  # 17:30 in Berlin: closed
    assert new.calendar.add(friday, timedelta(hours=1)) == datetime(2027, 1, 11, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("[[policies]]\nversion='x'\n", "policies.0.effective_from"),
        ("policies = []", "policies"),
        ("[[policies]]\nversion='x'\neffective_from=2026-01-01T00:00:00Z\ncalendar='office'\n",
         "no calendar 'office'"),
        ("[[policies]]\nversion='x'\neffective_from=2026-01-01T00:00:00Z\n"
         "[policies.targets]\nurgent={resolution=-1}\n", "policies.0.targets.urgent.resolution"),
        ("[[policies]]\nversion='x'\neffective_from=2026-01-01T00:00:00Z\n"
         "[policies.targets]\nasap={resolution=1}\n", "unknown priorities ['asap']"),
        ("[calendars.c]\ntimezone='Mars/Olympus'\n[[policies]]\nversion='x'\n"
         "effective_from=2026-01-01T00:00:00Z\n", "unknown IANA time zone"),
        ("[calendars.c]\ntimezone='UTC'\nmonday=['9-17']\n[[policies]]\nversion='x'\n"
         "effective_from=2026-01-01T00:00:00Z\n", "calendars.c.monday"),
        ("[calendars.c]\ntimezone='UTC'\n[[policies]]\nversion='x'\n"
         "effective_from=2026-01-01T00:00:00Z\n", "no open hours"),
        ("[[policies]]\nversion='x'\neffective_from=2026-01-01\n", "effective_from"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_mistakes_are_named(text: str, mentions: str) -> None:
    with pytest.raises(SlaConfigError) as raised:
        parse_policy_book(text, source="sla.toml")
    assert mentions in str(raised.value)
    assert str(raised.value).startswith("sla.toml:")


def test_a_missing_file_names_the_setting(tmp_path) -> None:
    with pytest.raises(SlaConfigError, match="CRM_SLA_POLICY_FILE"):
        load_policy_book(tmp_path / "nope.toml")
