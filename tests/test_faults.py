"""When Stripe or DynamoDB fail: bounded retries, our 503 (with Retry-After) or 500, no leaks.

Through the real lambda_handler; Stripe is the stand-in over real HTTP (fail_next, drop_next,
delay), DynamoDB is moto, a closed loopback port, or a loopback server answering errors.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from billing_portal.web.api import logger
from testing.events import event
from testing.failing_dynamodb import FailingDynamoDB
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, build_handler, problem
from testing.harness import LambdaContext, put_customer
from testing.leaks import check_no_leaks, find_leaks
from testing.metrics import metrics_emitted

SESSIONS = "/v1/billing_portal/sessions"


def stripe_attempts(fake: FakeStripe) -> int:
    return len(fake.calls("POST", SESSIONS))


def assert_unavailable(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503
    assert problem(response)["type"].endswith("upstream-unavailable")
    assert int(response["headers"]["Retry-After"]) >= 1


# --- Stripe ---------------------------------------------------------------------------------


def test_a_stripe_500_is_retried_with_the_same_idempotency_key_and_the_user_gets_the_portal(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.fail_next(500, path_prefix=SESSIONS)

    response = invoke("home")

    assert response["statusCode"] == 303
    first, second = fake_stripe.calls("POST", SESSIONS)
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_a_stripe_that_keeps_failing_is_a_503_after_the_retries_that_fit(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_stripe.fail_next(500, times=10, path_prefix=SESSIONS)

    response = invoke("home")

    assert_unavailable(response)
    assert stripe_attempts(fake_stripe) == 2  # one retry fits in 10 s of 4 s attempts
    assert not any(r.exc_info for r in caplog.records)  # expected: no stack trace
    assert {"name": "UpstreamFailures", "service": "billing-portal", "upstream": "stripe",
            "reason": "error"} in metrics_emitted(capfd)  # fmt: skip


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(None, "2"), (7, "7"), (0.2, "1"), (86400, "60")]
)
def test_stripe_rate_limiting_is_a_503_passing_on_its_retry_after_within_bounds(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    retry_after: float | None,
    expected: str,
) -> None:
    fake_stripe.fail_next(429, path_prefix=SESSIONS, retry_after=retry_after)

    response = invoke("home")

    assert_unavailable(response)
    assert response["headers"]["Retry-After"] == expected
    assert stripe_attempts(fake_stripe) == 1  # Stripe asks for less traffic: no retry


def test_a_dropped_connection_is_retried(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.drop_next(path_prefix=SESSIONS)

    response = invoke("home")

    assert response["statusCode"] == 303
    assert stripe_attempts(fake_stripe) == 2


def test_connections_that_keep_dropping_are_a_503(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.drop_next(times=10, path_prefix=SESSIONS)

    assert_unavailable(invoke("home"))


def test_a_stripe_slower_than_the_time_left_is_a_503_not_a_lambda_timeout(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_stripe.delay = 3.0  # longer than the whole invocation has left

    response = invoke("home", remaining_ms=1500)

    assert_unavailable(response)
    assert stripe_attempts(fake_stripe) == 1
    assert {"name": "UpstreamFailures", "service": "billing-portal", "upstream": "stripe",
            "reason": "timeout"} in metrics_emitted(capfd)  # fmt: skip


def test_with_no_time_left_stripe_is_not_called_at_all(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("home", remaining_ms=600)

    assert_unavailable(response)
    assert fake_stripe.calls() == []


def test_stripe_rejecting_our_key_is_a_500_and_the_key_is_in_no_log_or_body(
    monkeypatch: pytest.MonkeyPatch,
    customer: str,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_revoked4Kq8Zr2")  # not one the stand-in knows

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    assert "revoked" not in response["body"]
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert vars(line)["stripe_error"] == "AuthenticationError"
    assert stripe_attempts(fake_stripe) == 1
    # ... and the autouse leak scan fails the test if sk_test_revoked... was logged anywhere.


@pytest.mark.parametrize(
    ("status", "error_type"), [(403, "invalid_request_error"), (400, "invalid_request_error")]
)
def test_stripe_refusing_our_setup_is_a_500_with_a_line_for_the_operator(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error_type: str,
) -> None:
    # 403: a restricted key without the portal permission; 400: e.g. no portal configuration
    # saved in the dashboard, or a flow the configuration does not enable.
    fake_stripe.fail_next(status, error_type=error_type, path_prefix=SESSIONS)

    response = invoke("home")

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert vars(line)["stripe_status"] == status
    assert vars(line)["stripe_request_id"].startswith("req_")


def test_a_customer_deleted_at_stripe_is_the_no_billing_account_404(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.delete_customer(customer)

    response = invoke("home")

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("no-billing-account")


# --- Stripe's refusals: whose problem, and whether the alarm moves ---------------------------


def outcome(capfd: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one outcome metric the request emitted."""
    [metric] = metrics_emitted(capfd)
    return metric


@pytest.mark.parametrize(
    ("price", "detail"),
    [("price_nope", "does not exist"), ("price_enterprise", "is not a price this portal offers")],
)
def test_a_price_stripe_refuses_is_the_callers_400_and_pages_no_one(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    price: str,
    detail: str,
) -> None:
    # price_nope exists nowhere; price_enterprise exists but the portal does not offer it.
    other = fake_stripe.add_customer()
    fake_stripe.add_subscription(customer=other, items=[("price_enterprise", 1)])
    fake_stripe.add_subscription(customer=customer)

    response = invoke("home", query=f"flow=subscription_update_confirm&price={price}")

    assert response["statusCode"] == 400
    assert problem(response)["errors"] == [{"parameter": "price", "detail": detail}]
    assert stripe_attempts(fake_stripe) == 1
    assert outcome(capfd) == {
        "name": "RejectedRequests", "service": "billing-portal", "problem": "invalid-parameter"
    }  # fmt: skip
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def canceling(fake: FakeStripe, customer: str) -> str:
    return fake.add_subscription(customer=customer, cancel_at_period_end=True)


def two_items(fake: FakeStripe, customer: str) -> str:
    return fake.add_subscription(customer=customer, items=[("price_basic", 1), ("price_pro", 1)])


def usage_based(fake: FakeStripe, customer: str) -> str:
    return fake.add_subscription(customer=customer, items=[("price_per_call", None)])


@pytest.mark.parametrize(
    ("subscription", "flow"),
    [
        (canceling, "subscription_cancel"),  # already set to cancel at the period end
        (two_items, "subscription_update"),  # a multi-product plan can only be canceled
        (usage_based, "subscription_update"),  # so can a usage-based one
    ],
)
def test_a_flow_stripe_refuses_for_the_subscriptions_state_is_a_409_counted_apart(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    subscription: Callable[[FakeStripe, str], str],
    flow: str,
) -> None:
    subscription(fake_stripe, customer)

    response = invoke("home", query=f"flow={flow}")

    assert response["statusCode"] == 409
    assert problem(response)["type"].endswith("/flow-unavailable")
    assert stripe_attempts(fake_stripe) == 1
    assert outcome(capfd) == {"name": "FlowsUnavailable", "service": "billing-portal", "flow": flow}


def test_a_flow_the_portal_configuration_leaves_off_is_a_409_counted_apart(
    monkeypatch: pytest.MonkeyPatch,
    customer: str,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    no_pausing = fake_stripe.add_configuration({"subscription_cancel": {"enabled": True}})
    monkeypatch.setenv("PORTAL_CONFIGURATION_ID", no_pausing)
    fake_stripe.add_subscription(customer=customer)

    response = build_handler()(event("home", query="flow=subscription_pause"), LambdaContext())

    assert response["statusCode"] == 409
    assert problem(response)["type"].endswith("/flow-unavailable")
    assert outcome(capfd) == {
        "name": "FlowsUnavailable", "service": "billing-portal", "flow": "subscription_pause"
    }  # fmt: skip


def test_pausing_a_paused_subscription_is_a_409_without_asking_stripe(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="paused")

    response = invoke("home", query="flow=subscription_pause")

    assert response["statusCode"] == 409
    assert problem(response)["type"].endswith("/flow-unavailable")
    assert stripe_attempts(fake_stripe) == 0


@pytest.mark.parametrize("flow", ["subscription_cancel", "subscription_update"])
def test_a_paused_subscription_is_one_a_flow_acts_on(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, flow: str
) -> None:
    paused = fake_stripe.add_subscription(customer=customer, status="paused")

    response = invoke("home", query=f"flow={flow}")

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", SESSIONS)
    assert call.params["flow_data"][flow] == {"subscription": paused}


@pytest.mark.parametrize("query", ["", "flow=subscription_cancel"])
def test_a_key_of_the_other_mode_than_the_table_is_a_500_that_fires_the_alarm(
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    query: str,
) -> None:
    # The table maps the user to a live-mode customer; the deployment holds a test key.
    put_customer(dynamodb, "demo-user", fake_stripe.add_customer(livemode=True))

    response = build_handler()(event("home", query=query), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "different modes" in line.getMessage()
    assert vars(line)["stripe_code"] == "resource_missing"
    assert outcome(capfd) == {"name": "Misconfigurations", "service": "billing-portal"}


def test_warm_invocations_share_one_connection_to_stripe(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    responses = [invoke("home") for _ in range(20)]

    assert {r["statusCode"] for r in responses} == {303}
    assert fake_stripe.connections == 1


# --- DynamoDB -------------------------------------------------------------------------------


@pytest.fixture
def app_with_dynamodb_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Callable:
    """The handler, cold-started with its DynamoDB endpoint at `url` (no moto)."""

    def start(url: str) -> Any:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        return build_handler()

    return start


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_dynamodb_is_a_503_and_stripe_is_not_called(
    app_with_dynamodb_at: Callable, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_dynamodb_at(f"http://127.0.0.1:{closed_port()}")

    response = app(event("home"), LambdaContext())

    assert_unavailable(response)
    assert fake_stripe.calls() == []
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (400, "ProvisionedThroughputExceededException", "throttled"),
        (400, "ThrottlingException", "throttled"),
        (400, "RequestLimitExceeded", "throttled"),
        (500, "InternalServerError", "error"),
    ],
)
def test_throttled_or_failing_dynamodb_is_a_503_after_one_retry(
    app_with_dynamodb_at: Callable,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    status: int,
    error: str,
    reason: str,
) -> None:
    with FailingDynamoDB(status, error) as dynamodb:
        app = app_with_dynamodb_at(dynamodb.url)

        response = app(event("home"), LambdaContext())

    assert_unavailable(response)
    assert dynamodb.requests == 2  # total_max_attempts
    assert fake_stripe.calls() == []
    assert {"name": "UpstreamFailures", "service": "billing-portal", "upstream": "dynamodb",
            "reason": reason} in metrics_emitted(capfd)  # fmt: skip


def test_a_missing_table_is_a_500_for_the_operator(
    app_with_dynamodb_at: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    with FailingDynamoDB(400, "ResourceNotFoundException") as dynamodb:
        app = app_with_dynamodb_at(dynamodb.url)

        response = app(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    assert dynamodb.requests == 1  # not retried: it won't get better
    assert any("CUSTOMERS_TABLE" in r.getMessage() for r in caplog.records)


# --- Metrics and the leak scan ----------------------------------------------------------------


def test_each_outcome_is_counted_once(
    invoke: Invoke, customer: str, capfd: pytest.CaptureFixture[str]
) -> None:
    invoke("home")
    invoke("home", claims={"sub": "nobody"})
    invoke("no-identity")
    invoke("foreign-return-url")

    assert metrics_emitted(capfd) == [
        {"name": "PortalSessionCreated", "service": "billing-portal", "flow": "home"},
        {"name": "MissingBillingAccounts", "service": "billing-portal"},
        {"name": "AuthFailures", "service": "billing-portal"},
        {"name": "RejectedRequests", "service": "billing-portal", "problem": "invalid-parameter"},
    ]


def test_sessions_are_counted_by_flow(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, capfd: pytest.CaptureFixture[str]
) -> None:
    invoke("flow-payment_method_update")

    assert metrics_emitted(capfd) == [
        {
            "name": "PortalSessionCreated",
            "service": "billing-portal",
            "flow": "payment_method_update",
        }
    ]


def test_a_debug_log_level_never_logs_stripes_request_and_response_bodies(
    invoke: Invoke, customer: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # what POWERTOOLS_LOG_LEVEL=DEBUG does to the root logger

    assert invoke("home")["statusCode"] == 303

    stripe_debug = [r for r in caplog.records if r.name == "stripe" and r.levelno < logging.INFO]
    assert stripe_debug == []
    assert any(r.name == "stripe" for r in caplog.records)  # its INFO lines still arrive


@pytest.mark.parametrize(
    "leak",
    [
        "sk_live_51Habc",
        "https://billing.stripe.com/p/session/test_abc",
        "jane.doe+billing@example.co.uk",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "Bearer abcdefghijklmnopqrstuvwxyz0123",
    ],
)
def test_the_leak_scan_catches_each_kind_of_secret(leak: str) -> None:
    assert find_leaks([f"some log line {leak} and more"]) != []


def test_the_leak_scan_fails_a_test_that_logs_a_token(
    handler: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    authorization = event("home")["headers"]["authorization"]
    logger.info("oops", extra={"header": authorization})  # the real logger, to stdout
    out, err = capfd.readouterr()

    with pytest.raises(pytest.fail.Exception, match="a JWT"):
        check_no_leaks(out, err, [])
    with pytest.raises(pytest.fail.Exception, match="a credential from events/"):
        check_no_leaks("", "", caplog.records)
    caplog.clear()  # taken back, so that the autouse scan of this very test passes
