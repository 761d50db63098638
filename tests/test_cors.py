"""CORS, for pages on ALLOWED_ORIGINS calling the endpoint with fetch: a preflight from an allowed
origin gets 204 and the headers, any other is a 403 naming the origin; every answer to an allowed
origin carries them, errors too; and API Gateway's own CORS (template.yaml) says the same."""

from __future__ import annotations

import pytest

from billing_portal.web import cors
from testing.handler import Invoke, problem
from tools.cfn import Stack

APP_ORIGIN = "https://app.example.com"  # in the demo settings' ALLOWED_ORIGINS


def test_a_preflight_from_an_allowed_origin_gets_204_and_the_cors_headers(invoke: Invoke) -> None:
    response = invoke("preflight")  # from https://app.example.com

    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert response["headers"]["Access-Control-Allow-Credentials"] == "true"
    assert response["headers"]["Access-Control-Allow-Methods"] == "GET, POST"
    assert response["headers"]["Access-Control-Allow-Headers"] == "authorization, content-type"


@pytest.mark.parametrize(
    ("origin", "said"),
    [
        ("http://localhost:8080", "Origin 'http://localhost:8080' is not one of ALLOWED_ORIGINS"),
        ("null", "Origin 'null' is not one of ALLOWED_ORIGINS"),
        ("http://x/<script>", "An Origin header that is not an origin (scheme://host[:port])"),
        (None, None),  # no Origin at all
    ],
)
def test_a_preflight_from_any_other_origin_is_a_403_naming_it(
    invoke: Invoke, origin: str | None, said: str | None
) -> None:
    headers = {"access-control-request-method": "POST", **({"origin": origin} if origin else {})}

    response = invoke("home", method="OPTIONS", headers=headers)

    assert response["statusCode"] == 403
    body = problem(response)
    assert body["type"].endswith("/forbidden-origin")
    if said:
        assert body["detail"] == f"{said}: it may not call this endpoint from a browser."
    assert "Access-Control-Allow-Origin" not in response["headers"]


def test_answers_to_an_allowed_origin_carry_cors_headers_even_when_they_are_errors(
    invoke: Invoke, customer: str
) -> None:
    ok = invoke("home", headers={"origin": APP_ORIGIN})
    error = invoke("no-identity", headers={"origin": "http://localhost:3000"})

    assert ok["statusCode"] == 303
    assert ok["headers"]["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert ok["headers"]["Access-Control-Allow-Credentials"] == "true"
    assert ok["headers"]["Access-Control-Expose-Headers"] == "Retry-After"
    assert ok["headers"]["Vary"] == "Origin"
    assert error["statusCode"] == 401
    assert error["headers"]["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_api_gateways_cors_agrees_with_the_function() -> None:
    origins = "https://app.example.com,https://admin.example.com"
    api = Stack(AllowedOrigins=origins).resources["BillingApi"]["Properties"]["Body"]
    config = api["x-amazon-apigateway-cors"]

    assert config["allowOrigins"] == origins.split(",")
    assert ", ".join(config["allowMethods"]) == cors.ALLOW_METHODS
    assert ", ".join(config["allowHeaders"]) == cors.ALLOW_HEADERS
    assert config["allowCredentials"] is True
    assert str(config["maxAge"]) == cors.MAX_AGE_SECONDS
    # fetch callers may read Retry-After, from API Gateway's answers as from the function's
    assert "retry-after" in {header.lower() for header in config["exposeHeaders"]}
