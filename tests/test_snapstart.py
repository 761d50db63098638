"""SnapStart hooks, against a stand-in for the runtime's snapshot_restore_py (which exists only
in Lambda): registered by the factory, the warm-up sends nothing, and a restored container
re-seeds random, dials Stripe and the key's store afresh and re-checks the issuer's keys, then
answers as before."""

from __future__ import annotations

import json
import random
import sys
import threading
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import Any

import pytest

from billing_portal.adapters import stripe_key
from testing.events import event
from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
from testing.handler import build_handler
from testing.harness import LambdaContext
from testing.jwks_server import ISSUER, Issuer

Hook = tuple[Callable[..., None], tuple[Any, ...]]


class Runtime:
    """What snapshot_restore_py offers: two registries, run by Lambda around the snapshot."""

    def __init__(self) -> None:
        self.before: list[Hook] = []
        self.after: list[Hook] = []

    def module(self) -> types.ModuleType:
        module = types.ModuleType("snapshot_restore_py")
        module.register_before_snapshot = lambda f, *a: self.before.append((f, a))  # type: ignore[attr-defined]
        module.register_after_restore = lambda f, *a: self.after.append((f, a))  # type: ignore[attr-defined]
        return module

    def snapshot(self) -> None:
        for func, args in reversed(self.before):  # Lambda runs these in reverse order
            func(*args)

    def restore(self) -> None:
        for func, args in self.after:
            func(*args)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Runtime:
    running = Runtime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", running.module())
    return running


def test_the_hooks_warm_without_sending_and_a_restored_container_dials_stripe_afresh(
    runtime: Runtime, customer: str, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    assert (len(runtime.before), len(runtime.after)) == (1, 1)

    runtime.snapshot()
    assert fake_stripe.calls() == []
    before = handler(event("home"), LambdaContext())
    runtime.restore()
    after = handler(event("home"), LambdaContext())

    assert (before["statusCode"], after["statusCode"]) == (303, 303)
    assert fake_stripe.connections == 2  # the pooled connection was dropped on restore


def test_restored_containers_do_not_share_random_numbers(runtime: Runtime, customer: str) -> None:
    build_handler()

    random.seed(7)
    from_the_snapshot = random.random()
    random.seed(7)
    runtime.restore()

    assert random.random() != from_the_snapshot


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


def test_a_restored_container_checks_the_issuers_keys_again(
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    customer: str,
    issuer: Issuer,
) -> None:
    monkeypatch.setenv("AUTH_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_JWT_AUDIENCE", "web-client")
    monkeypatch.setenv("AUTH_JWKS_URL", issuer.jwks_url)
    handler = build_handler()
    bearer = {"authorization": f"Bearer {issuer.token()}"}

    first = handler(event("no-identity", headers=bearer), LambdaContext())
    runtime.restore()
    issuer.rotate(withdraw_old=True)  # withdrawn while the snapshot slept
    stale = handler(event("no-identity", headers=bearer), LambdaContext())

    assert first["statusCode"] == 303
    assert issuer.fetches == 2
    assert stale["statusCode"] == 401


class KeyStore:
    """A loopback SSM endpoint in SSM's JSON wire format (GetParameter answers the Stripe key),
    counting the connections botocore opens to it."""

    def __init__(self) -> None:
        self.connections = 0
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as SSM: botocore pools the connection

            def __init__(self, *args: Any) -> None:
                store.connections += 1  # one handler per connection
                super().__init__(*args)

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                parameter = {"Name": request["Name"], "Type": "SecureString", "Version": 1}
                body = json.dumps({"Parameter": {**parameter, "Value": DEFAULT_API_KEY}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server: BaseServer = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"  # type: ignore[attr-defined]

    def __enter__(self) -> KeyStore:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_restored_container_dials_the_keys_store_afresh(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, customer: str
) -> None:
    monkeypatch.setattr(stripe_key, "KEY_CACHE_SECONDS", 0)  # read the key on every request
    with KeyStore() as store:
        monkeypatch.delenv("STRIPE_API_KEY")
        monkeypatch.setenv("STRIPE_API_KEY_PARAM", "/billing-portal/stripe-api-key")
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", store.url)
        handler = build_handler()

        before = [handler(event("home"), LambdaContext()) for _ in range(2)]
        runtime.restore()
        after = handler(event("home"), LambdaContext())

    assert [r["statusCode"] for r in [*before, after]] == [303, 303, 303]
    assert store.connections == 2  # one before the snapshot, reused; a new one after restore


def test_without_the_runtime_module_nothing_is_registered(customer: str) -> None:
    from billing_portal import snapstart

    assert "snapshot_restore_py" not in sys.modules
    assert snapstart.register(lambda: None, lambda: None) is False
