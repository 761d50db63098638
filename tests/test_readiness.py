"""The readiness check the PreTraffic hook runs on a new version, through the real lambda_handler:
DynamoDB and SSM are moto, Stripe is the stand-in over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, problem
from testing.harness import LambdaContext
from testing.readiness import make_version, readiness_event

CONFIGURATIONS = "/v1/billing_portal/configurations"


@pytest.fixture
def check(dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe) -> Any:
    """The readiness answer of a version set up as named (testing/readiness.py)."""

    def run(version: str) -> dict[str, Any]:
        environment = make_version(version, monkeypatch, fake_stripe)
        answer: dict[str, Any] = build_handler()(readiness_event(environment), LambdaContext())
        return answer

    return run


def checks(answer: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {c["name"]: (c["ok"], c["detail"]) for c in answer["checks"]}


def failed(answer: dict[str, Any]) -> dict[str, str]:
    assert answer["ready"] is False
    return {c["name"]: c["detail"] for c in answer["checks"] if not c["ok"]}


def test_a_good_version_is_ready_and_says_what_it_checked(
    check: Any, fake_stripe: FakeStripe
) -> None:
    answer = check("ready")

    assert answer["ready"] is True
    assert checks(answer) == {
        "settings": (True, "valid"),
        "stripe_key": (True, "read from STRIPE_API_KEY"),
        "key_mode": (True, "test key, as expected"),
        "customers_table": (True, "GetItem answered"),
        "portal_configuration": (
            True,
            f"{fake_stripe.default_configuration} is active and enables 6 flows",
        ),
    }
    # Stripe picks the default configuration for a session that names none: so does the check.
    [call] = fake_stripe.calls("GET", CONFIGURATIONS)
    assert call.params["is_default"] == "true"


def test_a_key_the_role_cannot_read_fails_and_stripe_is_not_asked(
    check: Any, fake_stripe: FakeStripe
) -> None:
    answer = check("key unreadable")

    assert failed(answer) == {
        "stripe_key": "cannot read the SSM parameter /billing-portal/stripe-api-key: "
        "ParameterNotFound"
    }
    assert [c["name"] for c in answer["checks"]] == ["settings", "stripe_key", "customers_table"]
    assert fake_stripe.calls() == []


def test_a_test_key_in_prod_fails(check: Any) -> None:
    answer = check("wrong key mode")

    assert failed(answer) == {"key_mode": "a test key, but this environment needs a live key"}


def test_a_live_key_in_dev_fails_and_the_key_is_never_shown(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe
) -> None:
    live = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    monkeypatch.setattr(fake_stripe, "api_keys", {live})
    monkeypatch.setenv("STRIPE_API_KEY", live)

    answer = build_handler()(readiness_event("dev"), LambdaContext())

    assert failed(answer) == {"key_mode": "a live key, but this environment needs a test key"}
    assert "sk_live" not in json.dumps(answer)


def test_a_configuration_missing_from_the_account_fails(check: Any) -> None:
    answer = check("configuration missing")

    assert failed(answer) == {
        "portal_configuration": "bpc_1NotInThisAccount does not exist in this Stripe account "
        "and mode"
    }


def test_a_configuration_without_a_flows_feature_fails_naming_the_flow(check: Any) -> None:
    answer = check("configuration lacks a flow's feature")

    [detail] = failed(answer).values()
    assert detail.endswith("does not enable: subscription_pause needs subscription_pause")


def test_a_flow_the_deployment_does_not_offer_needs_no_feature(
    check: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A company that never lets customers pause turns pause off, and offers the rest.
    offered = "payment_method_update,subscription_cancel,subscription_update"
    monkeypatch.setenv("PORTAL_FLOWS", offered)

    answer = check("configuration lacks a flow's feature")

    assert answer["ready"] is True
    assert checks(answer)["portal_configuration"][1].endswith("enables 3 flows")


def test_an_inactive_configuration_fails(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe
) -> None:
    config = fake_stripe.add_configuration(active=False)
    monkeypatch.setenv("PORTAL_CONFIGURATION_ID", config)

    answer = build_handler()(readiness_event("dev"), LambdaContext())

    assert failed(answer) == {"portal_configuration": f"{config} is not active"}


def test_a_table_the_function_cannot_read_fails(check: Any) -> None:
    answer = check("table unreadable")

    assert failed(answer) == {"customers_table": "GetItem failed: ResourceNotFoundException"}


def test_a_key_stripe_rejects_fails_the_configuration_check(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_revoked")

    answer = build_handler()(readiness_event("dev"), LambdaContext())

    assert failed(answer) == {
        "portal_configuration": "cannot read the default configuration: AuthenticationError"
    }


def test_invalid_settings_are_the_reason(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_RETURN_URL", "https://elsewhere.example.com/")

    answer = build_handler()(readiness_event("dev"), LambdaContext())

    [(name, detail)] = failed(answer).items()
    assert name == "settings"
    assert detail.startswith("DEFAULT_RETURN_URL:")


def test_without_an_expectation_the_mode_is_reported_not_judged(
    dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    answer = build_handler()({"readiness": {}}, LambdaContext())

    assert answer["ready"] is True
    assert checks(answer)["key_mode"] == (True, "test key (no mode expected)")


# --- An HTTP request can never run it -----------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"query": "readiness=1"},
        {
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": '{"readiness": {"live_key": true}}',
        },
    ],
)
def test_an_http_request_naming_readiness_is_a_request_like_any_other(
    dynamodb: Any, fake_stripe: FakeStripe, changes: dict[str, Any]
) -> None:
    response = build_handler()(event("home", **changes), LambdaContext())

    assert response["statusCode"] == 400
    assert problem(response)["errors"][0]["parameter"] == "readiness"
    assert fake_stripe.calls() == []


def test_an_event_with_a_request_context_is_routed_even_with_readiness_in_it(
    dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    # API Gateway's and function URLs' events always carry requestContext.
    http = {**event("home", query="readiness=1"), "readiness": {"live_key": False}}

    response = build_handler()(http, LambdaContext())

    assert response["statusCode"] == 400
    assert "ready" not in response
    assert fake_stripe.calls() == []
