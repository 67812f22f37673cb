"""Reading the SLA policy book from a TOML file (``CRM_SLA_POLICY_FILE``).

The format is documented in ``config/sla-policy.example.toml``. Errors name the
place in the file (``policies[1].targets.urgent.resolution``) and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.calendars import AlwaysOpen, BusinessHours, Calendar
from domain.sla_policy import DEFAULT_TARGETS, PRIORITIES, PolicyBook, SlaPolicy, Targets

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])$")
Hours = Annotated[float, Field(gt=0, le=24 * 366)]


class SlaConfigError(ValueError):
    """The policy file cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Targets(_Strict):
    first_response: Hours | None = None
    resolution: Hours | None = None


class _Calendar(_Strict):
    timezone: str
    monday: list[str] = []
    tuesday: list[str] = []
    wednesday: list[str] = []
    thursday: list[str] = []
    friday: list[str] = []
    saturday: list[str] = []
    sunday: list[str] = []
    holidays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator(*DAYS)
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for span in value:
            if not _SPAN.match(span):
                raise ValueError(f"{span!r} is not HH:MM-HH:MM")
        return value


class _Policy(_Strict):
    version: str = Field(min_length=1)
    effective_from: AwareDatetime
    calendar: str = "24x7"
    at_risk_share: float = Field(0.8, gt=0, lt=1)
    targets: dict[str, _Targets] = {}
    categories: dict[str, dict[str, _Targets]] = {}

    @field_validator("targets")
    @classmethod
    def _priorities(cls, value: dict[str, _Targets]) -> dict[str, _Targets]:
        unknown = set(value) - set(PRIORITIES)
        if unknown:
            raise ValueError(f"unknown priorities {sorted(unknown)}; use {list(PRIORITIES)}")
        return value


class _Book(_Strict):
    calendars: dict[str, _Calendar] = {}
    policies: list[_Policy] = Field(min_length=1)


def _time(text: str) -> time:
    hours, minutes = map(int, text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def _calendar(name: str, spec: _Calendar) -> BusinessHours:
    weekly = {}
    for weekday, day in enumerate(DAYS):
        spans = [span.split("-") for span in getattr(spec, day)]
        weekly[weekday] = tuple((_time(a), _time(b)) for a, b in spans)
    return BusinessHours(ZoneInfo(spec.timezone), weekly, frozenset(spec.holidays), name)


def _targets(base: Targets, override: _Targets) -> Targets:
    return Targets(
        timedelta(hours=override.first_response) if override.first_response else base.first_response,
        timedelta(hours=override.resolution) if override.resolution else base.resolution,
    )


def parse_policy_book(text: str, source: str = "SLA policy") -> PolicyBook:
    try:
        book = _Book.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise SlaConfigError(f"{source}: not valid TOML: {error}") from None
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        ]
        raise SlaConfigError(f"{source}: " + "; ".join(problems)) from None
    try:
        calendars: dict[str, Calendar] = {n: _calendar(n, c) for n, c in book.calendars.items()}
    except ValueError as error:
        raise SlaConfigError(f"{source}: {error}") from None
    calendars.setdefault("24x7", AlwaysOpen())
    policies = []
    for index, spec in enumerate(book.policies):
        if spec.calendar not in calendars:
            raise SlaConfigError(
                f"{source}: policies[{index}].calendar: no calendar {spec.calendar!r}; "
                f"define [calendars.{spec.calendar}] or use one of {sorted(calendars)}"
            )
        targets = {p: _targets(DEFAULT_TARGETS[p], spec.targets.get(p, _Targets()))
                   for p in PRIORITIES}
        categories = {
            category: {p: _targets(targets[p], t) for p, t in by_priority.items()}
            for category, by_priority in spec.categories.items()
        }
        for category, by_priority in spec.categories.items():
            unknown = set(by_priority) - set(PRIORITIES)
            if unknown:
                raise SlaConfigError(f"{source}: policies[{index}].categories.{category}: "
                                     f"unknown priorities {sorted(unknown)}")
        policies.append(SlaPolicy(spec.effective_from.astimezone(UTC), calendars[spec.calendar],
                                  targets, categories, spec.at_risk_share, spec.version))
    return PolicyBook(policies)


def load_policy_book(path: Path) -> PolicyBook:
    try:
        text = path.read_text()
    except OSError as error:
        raise SlaConfigError(f"CRM_SLA_POLICY_FILE: cannot read {path}: {error.strerror}") from None
    return parse_policy_book(text, source=f"CRM_SLA_POLICY_FILE {path}")


