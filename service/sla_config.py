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
from domain.sla_standing import TIERS, segment_key

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


def _known_priorities(value: dict[str, _Targets]) -> dict[str, _Targets]:
    unknown = set(value) - set(PRIORITIES)
    if unknown:
        raise ValueError(f"unknown priorities {sorted(unknown)}; use {list(PRIORITIES)}")
    return value


class _Override(_Strict):
    """One category for one segment or one tier: ``[[policies.overrides]]``."""

    category: str = Field(min_length=1)
    segment: str | None = None
    tier: str | None = None
    targets: dict[str, _Targets] = {}

    _priorities = field_validator("targets")(_known_priorities)


class _Policy(_Strict):
    version: str = Field(min_length=1)
    effective_from: AwareDatetime
    calendar: str = "24x7"
    at_risk_share: float = Field(0.8, gt=0, lt=1)
    applies_to_open: bool = Field(False, strict=True)  # true or false, nothing else
    targets: dict[str, _Targets] = {}
    categories: dict[str, dict[str, _Targets]] = {}
    segments: dict[str, dict[str, _Targets]] = {}
    tiers: dict[str, dict[str, _Targets]] = {}
    overrides: list[_Override] = []

    _priorities = field_validator("targets")(_known_priorities)


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
    earliest = min(range(len(book.policies)), key=lambda i: book.policies[i].effective_from)
    if book.policies[earliest].applies_to_open:
        raise SlaConfigError(f"{source}: policies[{earliest}].applies_to_open: the earliest "
                             "policy has no complaints opened under an earlier one to take over")
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
        for table in ("categories", "segments", "tiers"):
            for name, by_priority in getattr(spec, table).items():
                unknown = set(by_priority) - set(PRIORITIES)
                if unknown:
                    raise SlaConfigError(f"{source}: policies[{index}].{table}.{name}: "
                                         f"unknown priorities {sorted(unknown)}")
        place = f"{source}: policies[{index}]"

        segments = {_segment(name, f"{place}.segments"): _resolved(targets, by_priority)
                    for name, by_priority in spec.segments.items()}
        if len(segments) != len(spec.segments):
            raise SlaConfigError(f"{place}.segments: {sorted(spec.segments)} name the same "
                                 "segment twice (names are compared without case and spaces)")
        tiers = {_tier(name, f"{place}.tiers.{name}"): _resolved(targets, by_priority)
                 for name, by_priority in spec.tiers.items()}
        category_segments: dict[tuple[str, str], dict[str, Targets]] = {}
        category_tiers: dict[tuple[str, str], dict[str, Targets]] = {}
        for number, override in enumerate(spec.overrides):
            at = f"{place}.overrides[{number}]"
            if (override.segment is None) == (override.tier is None):
                raise SlaConfigError(f"{at}: name exactly one of segment and tier")
            if override.segment is not None:
                key, table = (override.category, _segment(override.segment, f"{at}.segment")), \
                    category_segments
            else:
                key, table = (override.category, _tier(override.tier or "", f"{at}.tier")), \
                    category_tiers
            if key in table:
                raise SlaConfigError(f"{at}: category {key[0]!r} with {key[1]!r} is "
                                     "overridden twice")
            table[key] = _resolved(targets, override.targets)
        policies.append(SlaPolicy(spec.effective_from.astimezone(UTC), calendars[spec.calendar],
                                  targets, categories, spec.at_risk_share, spec.version,
                                  spec.applies_to_open, segments, tiers, category_segments,
                                  category_tiers))
    return PolicyBook(policies)


def _resolved(targets: dict[str, Targets], by_priority: dict[str, _Targets]
              ) -> dict[str, Targets]:
    """Partial targets filled in from the policy's own for each priority."""
    return {p: _targets(targets[p], t) for p, t in by_priority.items()}


def _segment(name: str, place: str) -> str:
    key = segment_key(name)
    if key is None:
        raise SlaConfigError(f"{place}: an empty segment name ({name!r}); name the profile "
                             "segment, e.g. vip")
    return key


def _tier(name: str, place: str) -> str:
    if name not in TIERS:
        raise SlaConfigError(f"{place}: unknown tier {name!r}; use one of {list(TIERS)}")
    return name


def load_policy_book(path: Path) -> PolicyBook:
    try:
        text = path.read_text()
    except OSError as error:
        raise SlaConfigError(f"CRM_SLA_POLICY_FILE: cannot read {path}: {error.strerror}") from None
    return parse_policy_book(text, source=f"CRM_SLA_POLICY_FILE {path}")


