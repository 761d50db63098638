"""The Stripe key read from SSM or Secrets Manager (moto), through the real handler."""

from __future__ import annotations

import socket
from typing import Any

import boto3
import pytest

from testing.events import event
from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
from testing.handler import build_handler, problem
from testing.harness import LambdaContext
from tools.cfn import Stack

PARAM = "/billing-portal/stripe-api-key"


@pytest.fixture
def key_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], customer: str) -> Any:
    """Cold-start the handler with STRIPE_API_KEY_PARAM instead of a local key."""

    def start(name: str) -> Any:
        monkeypatch.delenv("STRIPE_API_KEY")
        monkeypatch.setenv("STRIPE_API_KEY_PARAM", name)
        return build_handler()

    return start


def test_the_key_is_read_from_an_ssm_secure_string(key_from: Any, fake_stripe: FakeStripe) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=PARAM, Value=DEFAULT_API_KEY, Type="SecureString")

    response = key_from(PARAM)(event("home"), LambdaContext())

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST")
    assert call.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"


def test_the_key_is_read_from_secrets_manager(key_from: Any, fake_stripe: FakeStripe) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="billing/stripe", SecretString=DEFAULT_API_KEY)

    response = key_from("secretsmanager:billing/stripe")(event("home"), LambdaContext())

    assert response["statusCode"] == 303


def test_a_missing_parameter_is_a_500_for_the_operator_and_stripe_is_not_called(
    key_from: Any, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    response = key_from(PARAM)(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    assert fake_stripe.calls() == []
    assert any("STRIPE_API_KEY_PARAM" in r.getMessage() for r in caplog.records)


def test_an_unreachable_ssm_is_a_503_with_retry_after(
    key_from: Any, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{closed}")

    response = key_from(PARAM)(event("home"), LambdaContext())

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"]
    assert fake_stripe.calls() == []


def test_the_key_is_read_once_per_five_minutes_and_a_rotated_one_then_taken(
    key_from: Any, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing_portal.adapters import stripe_key

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=PARAM, Value="sk_test_old", Type="SecureString")
    clock = [1000.0]
    monkeypatch.setattr(stripe_key.time, "monotonic", lambda: clock[0])
    handler = key_from(PARAM)
    handler(event("home"), LambdaContext())

    ssm.put_parameter(Name=PARAM, Value="sk_test_new", Type="SecureString", Overwrite=True)
    clock[0] += 299  # still cached: the old key, no second read
    handler(event("home"), LambdaContext())
    clock[0] += 2  # five minutes since the read: the rotated key
    handler(event("home"), LambdaContext())

    keys = [c.headers["authorization"] for c in fake_stripe.calls("POST")]
    assert keys == ["Bearer sk_test_old", "Bearer sk_test_old", "Bearer sk_test_new"]


def test_a_secret_holding_binary_data_is_a_500_for_the_operator(
    key_from: Any, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="billing/stripe", SecretBinary=b"\x00sk")

    response = key_from("secretsmanager:billing/stripe")(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    assert fake_stripe.calls() == []
    assert any("binary" in r.getMessage() for r in caplog.records)


def test_the_key_read_from_the_templates_setting_is_the_secret(monkeypatch: Any) -> None:
    # The value the template hands the function makes the function read that very secret.
    import boto3
    from moto import mock_aws

    from billing_portal.adapters.stripe_key import StripeKey

    setting = Stack(StripeApiKeySecret="billing-portal/prod/stripe").settings()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name="billing-portal/prod/stripe", SecretString="sk_test_from_secrets_manager"
        )

        key = StripeKey(None, setting["STRIPE_API_KEY_PARAM"])()

    assert key == "sk_test_from_secrets_manager"
