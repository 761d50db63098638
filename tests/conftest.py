"""Fixtures: the real handler, a moto customers table built from template.yaml, and a local
Stripe stand-in reached over real HTTP, so the code under test is the code that ships."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import botocore.session
import pytest
from moto import mock_aws

from billing_portal.factory import build
from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.harness import DEMO_SETTINGS, EVENTS, LambdaContext, create_table, put_customer

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# One botocore session per test process, as one per Lambda container: a new session loads botocore's
# service models again (~100 ms a test).
SESSION = botocore.session.Session()

Invoke = Callable[..., dict[str, Any]]


# --- Leak scan ------------------------------------------------------------------------------
# Every test, whoever wrote it, has everything it printed or logged searched for secrets and
# personal data: the contract allows none of these in a log line or an error body.


def _event_credentials() -> set[str]:
    """Authorization and Cookie values in events/*.json, and the tokens inside them."""
    found: set[str] = set()
    for path in EVENTS.glob("*.json"):
        data = json.loads(path.read_text())
        values = [v for k, v in data.get("headers", {}).items() if k in ("authorization", "cookie")]
        for value in [*values, *data.get("cookies", [])]:
            found.update({value, value.split(" ", 1)[-1], value.split("=", 1)[-1]})
    return {value for value in found if len(value) >= 16}


LEAKS = {
    "a Stripe secret key": re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]+"),
    "a portal session URL": re.compile(r"/p/session/"),
    # Any address but the one in the stripe SDK's own connection-error message.
    "an email address": re.compile(
        r"(?<![\w.%+-])(?!support@stripe\.com)[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    ),
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    "a bearer token": re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{20,}"),
}
if _event_credentials():
    LEAKS["a credential from events/"] = re.compile("|".join(map(re.escape, _event_credentials())))


def find_leaks(texts: Iterable[str]) -> list[str]:
    """What leaked, one line each (the match cut short, so the report leaks no more)."""
    return [
        f"{what}: {match.group(0)[:12]}..."
        for text in texts
        for what, pattern in LEAKS.items()
        for match in pattern.finditer(text)
    ]


def _record_texts(records: Iterable[logging.LogRecord]) -> Iterator[str]:
    for record in records:
        yield record.getMessage()
        yield repr(vars(record))  # extra keys and the raw args
        if record.exc_info:
            yield logging.Formatter().formatException(record.exc_info)


def check_no_leaks(out: str, err: str, records: Iterable[logging.LogRecord]) -> None:
    leaks = find_leaks([out, err, *_record_texts(records)])
    if leaks:
        pytest.fail("secrets or personal data in the output:\n" + "\n".join(leaks))


class _CurrentStdout:
    """Writes to whatever sys.stdout is now. pytest swaps sys.stdout for each test's capture,
    while powertools' Logger keeps the stream it was created with (a closed one, later)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _service_logs_to_current_stdout() -> None:
    for handler in logging.getLogger(DEMO_SETTINGS["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _CurrentStdout()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails any test whose stdout/stderr (powertools writes JSON there) or log records hold a
    key, a token, a session URL or an email address."""
    # capfd sees what is written to the file descriptors, whoever holds the stream; a test that
    # asked for capsys keeps it (the two cannot be used together).
    capture = request.getfixturevalue("capsys" if "capsys" in request.fixturenames else "capfd")
    _service_logs_to_current_stdout()
    caplog.set_level(logging.INFO)  # the level the template ships
    yield
    out, err = capture.readouterr()
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    check_no_leaks(out, err, records)


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
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
    with mock_aws():
        client = SESSION.create_client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def customer(dynamodb: Any, fake_stripe: FakeStripe) -> str:
    """The demo user, mapped to a customer that exists at the stand-in."""
    customer_id = fake_stripe.add_customer(email="demo@example.com")
    put_customer(dynamodb, "demo-user", customer_id)
    return customer_id


def build_handler(session: botocore.session.Session | None = None) -> Handler:
    """A handler built from the current environment, as on a Lambda cold start with it."""
    handler = build(os.environ, session=session or SESSION)
    _service_logs_to_current_stdout()
    return handler


@pytest.fixture
def handler(dynamodb: Any) -> Handler:
    return build_handler()


@pytest.fixture
def invoke(handler: Handler) -> Invoke:
    """Call the real handler with an events/ file, changed as the test says."""

    def call(name: str = "home", *, remaining_ms: int = 10_000, **changes: Any) -> dict[str, Any]:
        response: dict[str, Any] = handler(
            event(name, **changes), LambdaContext(remaining_ms=remaining_ms)
        )
        if response.get("headers", {}).get("Content-Type") == "application/problem+json":
            assert find_leaks([response["body"]]) == []
        return response

    return call


@pytest.fixture
def session(dynamodb: Any) -> botocore.session.Session:
    """A botocore session of the test's own, for a handler whose DynamoDB calls are counted."""
    return botocore.session.Session()


@pytest.fixture
def dynamodb_calls(session: botocore.session.Session) -> list[str]:
    """Every DynamoDB operation made through `session`'s clients, counted at the SDK's edge."""
    calls: list[str] = []
    session.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def session_customer(fake_stripe: FakeStripe, response: dict[str, Any]) -> str:
    """The customer of the portal session a 303 points at."""
    assert response["statusCode"] == 303, response.get("body")
    [session] = [
        s for s in fake_stripe.sessions.values() if s["url"] == response["headers"]["Location"]
    ]
    return str(session["customer"])


def problem(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response["body"])
    return body


# A Markdown code fence: up to three spaces, then three or more backticks or tildes.
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_lines(text: str) -> Iterator[tuple[str, bool]]:
    """Each line of a Markdown text but the fences themselves, and whether it is inside a fenced
    code block (a fence closes with the same character, at least as long as the one that opened
    it)."""
    fence = ""
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
            else:
                yield line, True
        elif match:
            fence = match.group(1)
        else:
            yield line, False
