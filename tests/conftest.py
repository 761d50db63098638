"""Fixtures: the real handler, a moto customers table built from template.yaml, and a local
Stripe stand-in reached over real HTTP, so the code under test is the code that ships."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from local.harness import DEMO_SETTINGS, EVENTS, LambdaContext, create_table, put_customer
from tests.fake_stripe import FakeStripe

Invoke = Callable[..., dict[str, Any]]


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
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client)
        yield client


@pytest.fixture
def customer(dynamodb: Any, fake_stripe: FakeStripe) -> str:
    """The demo user, mapped to a customer that exists at the stand-in."""
    customer_id = fake_stripe.add_customer(email="demo@example.com")
    put_customer(dynamodb, "demo-user", customer_id)
    return customer_id


def load_app() -> Any:
    """The handler module loaded fresh, as on a Lambda cold start with the current environment."""
    parameters.clear_caches()
    if "app" in sys.modules:
        return importlib.reload(sys.modules["app"])
    return importlib.import_module("app")


@pytest.fixture
def app(dynamodb: Any) -> Any:
    return load_app()


@pytest.fixture
def invoke(app: Any) -> Invoke:
    """Call the real lambda_handler with an events/ file, changed as the test says."""

    def call(name: str = "home", **changes: Any) -> dict[str, Any]:
        return app.lambda_handler(event(name, **changes), LambdaContext())

    return call


def event(
    name: str = "home",
    *,
    method: str | None = None,
    query: str | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A real API Gateway HTTP API (v2) event from events/, with the given changes."""
    data = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    if method is not None:
        data["requestContext"]["http"]["method"] = method
        data["routeKey"] = data["requestContext"]["routeKey"] = f"{method} /billing/portal"
    if query is not None:
        data["rawQueryString"] = query
    if headers is not None:
        data["headers"].update(headers)
    if body is not None:
        data["body"] = body
    if claims is not None:
        data["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return data


def problem(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response["body"])
    return body
