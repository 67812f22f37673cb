"""Which URLs webhooks may go to, which events a pattern asks for, and the backoff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from webhooks.delivery import RetryPolicy
from webhooks.signing import new_secret, signature
from webhooks.targets import TargetPolicy, TargetRefused, check_events, matches

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("url", ["http://example.com/x", "https://127.0.0.1/x",
                                 "https://localhost/x", "https://[::1]/x", "https://192.168.1.4/",
                                 "https://100.64.0.1/", "https://[fd00::1]/", "https://", "x",
                                 "https://example.com:port/",
                                 "https://example.com/a b"])
def test_refused_without_the_localhost_allowance(url: str) -> None:
    with pytest.raises(TargetRefused):
        TargetPolicy().check_url(url)


def test_public_https_and_local_http_when_allowed() -> None:
    assert TargetPolicy().check_url("https://hooks.example.com/crm") == "https://hooks.example.com/crm"
    assert TargetPolicy().check_url("https://8.8.8.8/crm")
    local = TargetPolicy(allow_http_localhost=True)
    for url in ("http://127.0.0.1:8000/h", "http://localhost/h", "http://[::1]:9/h"):
        assert local.check_url(url) == url
    with pytest.raises(TargetRefused):
        local.check_url("http://10.0.0.1/h")  # the allowance is for this machine only


def test_names_resolving_inside_are_refused_before_a_try() -> None:
    with pytest.raises(TargetRefused, match="not a public address"):
        TargetPolicy().check_resolved("https://localhost/h")
    TargetPolicy(allow_http_localhost=True).check_resolved("http://localhost/h")


def test_patterns() -> None:
    assert matches("alerts", "crm.sla.breached") and not matches("alerts", "crm.segment.exited")
    assert matches("segments", "crm.segment.exited")
    assert matches("crm.anomaly.*", "crm.anomaly.order_burst")
    assert not matches("crm.anomaly.*", "crm.anomalyx")
    assert check_events(["segments", "alerts", "alerts"]) == ["alerts", "segments"]
    with pytest.raises(TargetRefused):
        check_events(["crm.order.placed"])


def test_backoff_doubles_up_to_its_cap() -> None:
    retry = RetryPolicy(base_seconds=5, max_seconds=60, max_attempts=10)
    assert [retry.wait_after(n) for n in (1, 2, 3, 4, 5)] == [
        timedelta(seconds=s) for s in (5, 10, 20, 40, 60)]


def test_signature_is_the_standard_webhooks_example() -> None:
    # The test vector of the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    assert new_secret().startswith("whsec_") and new_secret() != new_secret()
