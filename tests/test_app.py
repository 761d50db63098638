"""End to end: real v2 events through the real lambda_handler, moto DynamoDB, Stripe stand-in."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, build_handler, problem
from testing.harness import LambdaContext


def test_mapped_user_is_redirected_to_exactly_the_session_stripe_returned(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("home")

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    session = fake_stripe.sessions[next(iter(fake_stripe.sessions))]
    assert response["headers"]["Location"] == session["url"]
    assert response["headers"]["Cache-Control"] == "no-store"
    assert call.params == {"customer": customer, "return_url": "https://app.example.com/account"}


def test_fetch_asking_for_json_gets_the_url_in_a_body(invoke: Invoke, customer: str) -> None:
    response = invoke("json-mode")

    assert response["statusCode"] == 200
    assert response["headers"]["Cache-Control"] == "no-store"
    assert json.loads(response["body"])["url"].startswith("http://127.0.0.1:")


def test_form_post_passes_return_url_and_locale(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("form-post")

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == "https://app.example.com/settings"
    assert call.params["locale"] == "fr"


def test_json_post_is_read_like_a_form(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke(
        "form-post",
        headers={"content-type": "application/json"},
        body=json.dumps({"return_url": "http://localhost:3000/billing"}),
    )

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == "http://localhost:3000/billing"


def test_unmapped_user_gets_a_404_problem(
    invoke: Invoke, dynamodb: object, fake_stripe: FakeStripe
) -> None:
    response = invoke("home", claims={"sub": "someone-else"})

    body = problem(response)
    assert response["statusCode"] == 404
    assert body["type"].endswith("no-billing-account")
    assert body["instance"] == "home-req-0001"
    assert fake_stripe.calls() == []


def test_foreign_return_url_is_a_400_and_stripe_is_never_called(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("foreign-return-url")

    body = problem(response)
    assert response["statusCode"] == 400
    assert body["errors"] == [
        {
            "parameter": "return_url",
            "detail": "origin 'https://evil.example' is not one of ALLOWED_ORIGINS",
        }
    ]
    assert fake_stripe.calls() == []


def test_a_return_url_is_sent_to_stripe_as_the_caller_spelled_it(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    # Which URLs pass is tests/unit/test_origins.py; here, that a passing one is not rewritten.
    url = "https://APP.Example.COM:443/caf%C3%A9?next=https%3A%2F%2Fapp.example.com%2F"

    response = invoke("home", query=urlencode({"return_url": url}))

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == url


def test_a_return_url_on_127_0_0_1_when_localhost_is_allowed_says_they_differ(
    invoke: Invoke, customer: str
) -> None:
    # Given ALLOWED_ORIGINS with http://localhost:3000 (the demo settings), not 127.0.0.1
    response = invoke("home", query="return_url=http://127.0.0.1:3000/settings")

    assert response["statusCode"] == 400
    assert problem(response)["errors"] == [
        {
            "parameter": "return_url",
            "detail": "origin 'http://127.0.0.1:3000' is not one of ALLOWED_ORIGINS "
            "(http://localhost:3000 is: 127.0.0.1 and localhost are different origins)",
        }
    ]


def test_no_identity_is_a_401_with_a_bearer_challenge(invoke: Invoke, customer: str) -> None:
    response = invoke("no-identity")

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert problem(response)["type"].endswith("unauthenticated")


def test_claims_without_the_user_claim_are_a_401_naming_the_claim(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("home", claims={"email": "demo@example.com"})

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    body = problem(response)
    assert body["type"].endswith("/unauthenticated")
    assert body["detail"] == "The token has no 'sub' claim."
    assert fake_stripe.calls() == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("customer=cus_other", "customer"),
        ("configuration=bpc_123", "configuration"),
        ("locale=klingon", "locale"),
        ("return_url=a&return_url=b", "return_url"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, query: str, parameter: str
) -> None:
    response = invoke("home", query=query)

    assert response["statusCode"] == 400
    assert [e["parameter"] for e in problem(response)["errors"]] == [parameter]
    assert fake_stripe.calls() == []


def test_unsupported_body_type_is_a_415_naming_the_types_to_send(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("form-post", headers={"content-type": "text/plain"}, body="hello")

    assert response["statusCode"] == 415
    body = problem(response)
    assert body["type"].endswith("/unsupported-media-type")
    assert body["detail"] == (
        "Send parameters as application/x-www-form-urlencoded or application/json."
    )
    assert fake_stripe.calls() == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(invoke: Invoke, customer: str, method: str) -> None:
    response = invoke("home", method=method)

    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, POST"
    assert problem(response)["type"].endswith("/method-not-allowed")


def test_browser_errors_go_to_the_error_page_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: object
) -> None:
    monkeypatch.setenv("ERROR_REDIRECT_URL", "https://app.example.com/billing-error")

    response = build_handler()(event("foreign-return-url"), LambdaContext())

    assert response["statusCode"] == 303
    assert (
        response["headers"]["Location"]
        == "https://app.example.com/billing-error?error=invalid-parameter"
    )


def test_fetch_errors_stay_problems_even_with_an_error_page(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: object
) -> None:
    monkeypatch.setenv("ERROR_REDIRECT_URL", "https://app.example.com/billing-error")
    accept_json = {"accept": "application/json"}

    response = build_handler()(event("foreign-return-url", headers=accept_json), LambdaContext())

    assert response["statusCode"] == 400
    assert "Location" not in response["headers"]
    assert [e["parameter"] for e in problem(response)["errors"]] == ["return_url"]


def test_invalid_settings_answer_500_problems_after_one_log_line(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    dynamodb: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DEFAULT_RETURN_URL", "https://evil.example/")

    handler = build_handler()
    responses = [handler(event("home"), LambdaContext()) for _ in range(2)]

    assert [r["statusCode"] for r in responses] == [500, 500]
    assert problem(responses[0])["type"].endswith("server-misconfigured")
    naming_it = [r for r in caplog.records if "DEFAULT_RETURN_URL" in r.getMessage()]
    assert len(naming_it) == 1
    assert naming_it[0].levelname == "ERROR"
    assert not any(r.exc_info for r in caplog.records)


def test_traces_keep_naming_the_invocation_lambda_handler(env: dict[str, str]) -> None:
    # Tracer names the invocation's subsegment after the function it wraps: X-Ray shows
    # "## lambda_handler", which trace queries and dashboards select on.
    assert build_handler().__name__ == "lambda_handler"
