"""Fixtures: the real handler, a moto customers table built from template.yaml, and a local
Stripe stand-in reached over real HTTP, so the code under test is the code that ships; and the
leak scan every test gets. Helpers the tests share live in testing/.

tests/unit shares this file and needs none of the handler's fixtures: what they need (moto, the
handler, the stand-in: ~3 s of imports) is imported inside them, so the unit layer never pays
for it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testing.events import event
from testing.harness import DEMO_SETTINGS, LambdaContext, create_table, put_customer
from testing.leaks import check_no_leaks, find_leaks, service_logs_to_current_stdout

if TYPE_CHECKING:
    import botocore.session
    from playwright.sync_api import Browser, Page, Playwright

    from testing.fake_stripe import FakeStripe
    from testing.handler import Handler, Invoke
    from testing.jwks_server import Issuer

UNIT = Path(__file__).parent / "unit"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Parallel workers (pytest-xdist, one per core) for a folder of handler-level tests, as the
    README's `pytest` runs all of tests/; none for tests/unit or single files, where starting
    the workers (~2-3 s) costs more than it saves. `-n N` on the command line decides instead.
    Runs before xdist's own hook, which turns "auto" into a number."""
    if config.option.numprocesses is not None or hasattr(config, "workerinput"):
        return  # decided on the command line, or this is a worker (which must start none)
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if any(path.is_dir() and UNIT not in (path, *path.parents) for path in paths):
        config.option.numprocesses = "auto"
        if config.option.dist == "no":
            # Whole files to a worker: a module's servers and browser start once, not per
            # worker (measured a few seconds faster than test by test).
            config.option.dist = "loadfile"


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails any test whose stdout/stderr (powertools writes JSON there) or log records hold a
    key, a token, a session URL or an email address (testing/leaks.py)."""
    # capfd sees what is written to the file descriptors, whoever holds the stream; a test that
    # asked for capsys keeps it (the two cannot be used together).
    capture = request.getfixturevalue("capsys" if "capsys" in request.fixturenames else "capfd")
    service_logs_to_current_stdout()
    caplog.set_level(logging.INFO)  # the level the template ships
    yield
    out, err = capture.readouterr()
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    check_no_leaks(out, err, records)


@pytest.fixture(autouse=True)
def fresh_default_boto3_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session keeps the region and credentials of the environment it was first
    made in: each test makes its own, so one test's AWS settings never reach the next."""
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    from testing.fake_stripe import FakeStripe

    with FakeStripe() as server:
        yield server


@pytest.fixture
def fake_stripe(stripe_server: FakeStripe) -> FakeStripe:
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe) -> dict[str, str]:
    """Demo settings pointed at the stand-in; a test may change them before `handler` loads."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    settings = {**DEMO_SETTINGS, "STRIPE_API_BASE": fake_stripe.url}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def dynamodb(env: dict[str, str]) -> Iterator[Any]:
    from moto import mock_aws

    from testing.handler import shared_session

    with mock_aws():
        client = shared_session().create_client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def customer(dynamodb: Any, fake_stripe: FakeStripe) -> str:
    """The demo user, mapped to a customer that exists at the stand-in."""
    customer_id = fake_stripe.add_customer(email="demo@example.com")
    put_customer(dynamodb, "demo-user", customer_id)
    return customer_id


@pytest.fixture
def handler(dynamodb: Any) -> Handler:
    from testing.handler import build_handler

    return build_handler()


@pytest.fixture
def invoke(handler: Handler) -> Invoke:
    """Call the real handler with an events/ file, changed as the test says."""

    def call(name: str = "home", *, remaining_ms: int = 10_000, **changes: Any) -> dict[str, Any]:
        response: dict[str, Any] = handler(
            event(name, **changes), LambdaContext(remaining_ms=remaining_ms)
        )
        problem_types = ("application/problem+json", "text/html; charset=utf-8")
        if response.get("headers", {}).get("Content-Type") in problem_types:
            assert find_leaks([response["body"]]) == []
        return response

    return call


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """An identity provider: it signs tokens and serves its keys (JWKS) on 127.0.0.1."""
    from testing.jwks_server import Issuer

    with Issuer() as running:
        yield running


@pytest.fixture
def verified_tokens(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], issuer: Issuer) -> Issuer:
    """AuthMode=function: the handler verifies `issuer`'s tokens itself (audience web-client),
    as a handler built from now on reads it."""
    from testing.jwks_server import ISSUER

    monkeypatch.setenv("AUTH_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_JWT_AUDIENCE", "web-client")
    monkeypatch.setenv("AUTH_JWKS_URL", issuer.jwks_url)
    return issuer


@pytest.fixture
def session(dynamodb: Any) -> botocore.session.Session:
    """The botocore session for a handler whose DynamoDB calls are counted: the shared one (a
    client copies the session's event hooks when it is made, so counting stays per handler)."""
    from testing.handler import shared_session

    return shared_session()


@pytest.fixture
def dynamodb_calls(session: botocore.session.Session) -> Iterator[list[str]]:
    """Every DynamoDB operation made through the clients `session` makes from now on, counted at
    the SDK's edge."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    session.register("before-call.dynamodb", count)
    yield calls
    session.unregister("before-call.dynamodb", count)


# --- A browser (tests/test_browser*.py, which skip first where testing/browser.py says it is
# missing): one Playwright and one Chromium per test module, a fresh context per test.


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    from testing.browser import launch

    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()
