"""docs/openapi.yaml: current with the code, a valid OpenAPI 3.1 document, and true of the
handler's real answers (each one checked against the operation's documented responses)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from local.openapi import DOCUMENT, ROUTE, render
from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, build_handler
from testing.harness import LambdaContext

SPEC: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert DOCUMENT.read_text() == render(), (
        "docs/openapi.yaml is stale: python3 uvw.py run python -m local.openapi > docs/openapi.yaml"
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(SPEC)  # openapi-spec-validator: the 3.1 schema, $refs, parameters

    assert SPEC["openapi"] == "3.1.0"


def check_against_the_document(method: str, response: dict[str, Any]) -> None:
    """The answer's status is documented for the operation, with its headers, media type and a
    body that validates against the documented schema."""
    path_item = SPEC["paths"][ROUTE]
    status = str(response["statusCode"])
    if method.lower() not in path_item:  # another method: the 405 every operation documents
        assert status == "405"
    operation = path_item.get(method.lower(), path_item["get"])
    assert status in operation["responses"], f"{method} answered an undocumented {status}"
    documented = operation["responses"][status]
    headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
    for name, header in documented.get("headers", {}).items():
        assert name.lower() in headers, f"{status} lacks its documented {name} header"
        OAS31Validator(header["schema"]).validate(headers[name.lower()])
    content = documented.get("content")
    if content is None:
        assert not response.get("body"), f"{status} has a body the document does not describe"
        return
    media_type = headers["content-type"].split(";")[0]
    assert media_type in content, f"{status} answered {media_type}, documented: {list(content)}"
    schema = {**content[media_type]["schema"], "components": SPEC["components"]}
    OAS31Validator(schema).validate(json.loads(response["body"]))


@pytest.fixture
def stripe_down(fake_stripe: FakeStripe) -> None:
    fake_stripe.fail_next(503, times=5, path_prefix="/v1/billing_portal", should_retry=False)


PREFLIGHT = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("home", {}),  # 303
    ("json-mode", {}),  # 200 {"url"}
    ("form-post", {}),  # 303
    ("foreign-return-url", {}),  # 400 invalid-parameter
    ("home", {"query": "quantity=3.5"}),  # 400
    ("no-identity", {}),  # 401
    ("home", {"claims": {"sub": "nobody"}}),  # 404 no-billing-account
    ("home", {"method": "DELETE"}),  # 405
    ("form-post", {"headers": {"content-type": "text/plain"}}),  # 415
    ("form-post", {"body": "return_url=" + "x" * 17_000}),  # 413
    ("flow-subscription_cancel", {"query": "flow=subscription_cancel&subscription=sub_Nope"}),
    ("preflight", {"headers": PREFLIGHT}),  # 204
    ("preflight", {"headers": {**PREFLIGHT, "origin": "http://localhost:8080"}}),  # 403
]


@pytest.mark.parametrize(("name", "changes"), CASES)
def test_real_answers_match_the_document(
    invoke: Invoke, customer: str, name: str, changes: dict[str, Any]
) -> None:
    request = event(name, **changes)
    response = invoke(name, **changes)

    check_against_the_document(request["requestContext"]["http"]["method"], response)


def test_an_upstream_failure_matches_the_document(
    invoke: Invoke, customer: str, stripe_down: None
) -> None:
    response = invoke("json-mode")

    assert response["statusCode"] == 503
    check_against_the_document("POST", response)


def test_a_misconfiguration_matches_the_document(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: object
) -> None:
    monkeypatch.setenv("DEFAULT_RETURN_URL", "https://evil.example/")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    check_against_the_document("GET", response)
