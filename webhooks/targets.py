"""Which URLs may receive webhooks, and which events an endpoint asked for.

URLs: ``https`` only, to hosts that are not loopback, private, link-local or otherwise
non-public addresses (the service must not be turned into a probe of its own network,
SSRF). IP literals are refused at registration; host names are resolved before every
try and refused if any address they resolve to is not public (a name that later points
inside is caught then, not only at registration). With
``CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST=1``, ``http`` and ``https`` to 127.0.0.1, [::1] and
localhost are accepted too: for tests and a receiver on the same machine.

Events: ``alerts`` (every alert type), ``segments`` (entries and exits), an exact
CloudEvent type (``crm.sla.breached``) or a prefix pattern (``crm.anomaly.*``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from schemas.published import ALERT_PAYLOADS, PUBLISHED_TYPES, SEGMENT_PAYLOADS

_FAMILIES = {"alerts": frozenset(ALERT_PAYLOADS), "segments": frozenset(SEGMENT_PAYLOADS)}
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


class TargetRefused(ValueError):
    """A URL or an event pattern an endpoint may not have; the message says why."""


def matches(pattern: str, event_type: str) -> bool:
    """Whether an endpoint's ``pattern`` asks for events of ``event_type``."""
    if pattern in _FAMILIES:
        return event_type in _FAMILIES[pattern]
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def wants(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(p, event_type) for p in patterns)


def check_events(patterns: list[str]) -> list[str]:
    """The patterns, each checked to ask for at least one published type (a typo would
    otherwise receive nothing, silently)."""
    for pattern in patterns:
        if not any(matches(pattern, t) for t in PUBLISHED_TYPES):
            raise TargetRefused(
                f"{pattern!r} matches no published event type: use 'alerts', 'segments', "
                "a type such as 'crm.sla.breached' or a prefix such as 'crm.anomaly.*'")
    return sorted(set(patterns))


@dataclass(frozen=True)
class TargetPolicy:
    allow_http_localhost: bool = False

    def check_url(self, url: str) -> str:
        """The URL, if the service may post to it (``TargetRefused`` saying why not)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as error:
            raise TargetRefused(f"the URL cannot be read: {error}") from None
        if any(c.isspace() for c in url):
            raise TargetRefused("the URL must not hold spaces (percent-encode them)")
        if parts.username or parts.password:
            raise TargetRefused("the URL must not carry a user name or password")
        if not host:
            raise TargetRefused("the URL has no host")
        local = host in _LOCAL_NAMES
        if local and self.allow_http_localhost:
            if parts.scheme not in ("http", "https"):
                raise TargetRefused("the URL must start with https:// (or http:// on this machine)")
            return url
        if parts.scheme != "https":
            raise TargetRefused("the URL must start with https://"
                                + (" (http to this machine needs "
                                   "CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST=1)" if local else ""))
        if local:
            raise TargetRefused(f"{host} is this machine; set CRM_WEBHOOKS_ALLOW_HTTP_LOCALHOST=1 "
                                "to deliver to it")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return url  # a name: resolved and checked before each try
        if not address.is_global:
            raise TargetRefused(f"{host} is not a public address")
        return url

    def check_resolved(self, url: str) -> None:
        """Refuse (``TargetRefused``) a host that resolves to a non-public address now."""
        host = (urlsplit(url).hostname or "").lower()
        if host in _LOCAL_NAMES and self.allow_http_localhost:
            return
        try:
            found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as error:
            raise TargetRefused(f"cannot resolve {host}: {error}") from None
        for *_, sockaddr in found:
            address = ipaddress.ip_address(sockaddr[0])
            if not address.is_global:
                raise TargetRefused(f"{host} resolves to {address}, not a public address")
