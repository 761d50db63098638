"""The connection to Stripe reads the environment once, at the cold start: a proxy it names is
used (NO_PROXY respected), and nothing else of the environment or the home folder (~/.netrc)
is looked at on each request."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from testing.events import event
from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
from testing.handler import build_handler, problem
from testing.harness import LambdaContext


def closed_port() -> int:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clean_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_a_proxy_named_at_the_cold_start_carries_the_requests_to_stripe(
    customer: str, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch, clean_proxies: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # a dead proxy
    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 503
    assert problem(response)["type"].endswith("upstream-unavailable")
    assert fake_stripe.calls() == []


def test_no_proxy_keeps_stripes_host_off_the_proxy(
    customer: str, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch, clean_proxies: None
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 303


def test_the_environment_is_read_once_not_on_every_request(
    customer: str, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch, clean_proxies: None
) -> None:
    handler = build_handler()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # after the start

    response = handler(event("home"), LambdaContext())

    assert response["statusCode"] == 303


def test_a_netrc_in_the_home_folder_never_replaces_the_stripe_key(
    customer: str,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clean_proxies: None,
) -> None:
    # requests' default would send this login as Basic auth in place of the Bearer key.
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login someone password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))

    response: dict[str, Any] = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST")
    assert call.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"


def test_stripe_is_not_told_how_long_earlier_calls_took(
    customer: str, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()

    for _ in range(2):
        assert handler(event("home"), LambdaContext())["statusCode"] == 303

    sent = [call.headers.get("x-stripe-client-telemetry") for call in fake_stripe.calls()]
    assert sent == [None, None]
