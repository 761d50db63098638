"""The endpoint's OpenAPI 3.1 document, built from the code that decides the answers.

    python3 uvw.py run python -m local.openapi > docs/openapi.yaml    # regenerate after a change

Parameters come from the caller's model (domain/request.py's PortalRequest), problem types and
their statuses from errors.py, so the document cannot drift from them unnoticed:
tests/test_openapi.py fails when docs/openapi.yaml differs from this output, lints it, and checks
real answers of the handler against it. The local server serves it at /openapi.yaml.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from billing_portal.domain.request import PortalRequest
from billing_portal.errors import PROBLEM_TYPE_BASE, Problem

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
ROUTE = "/billing/portal"
PARAMETERS_DOC = "docs/parameters-and-responses.md"
DESCRIPTIONS = {
    "return_url": "Where the portal's return link goes: an absolute URL whose origin is one of "
    "ALLOWED_ORIGINS (https, or http for localhost). Default: DEFAULT_RETURN_URL.",
    "locale": "The portal's language, or auto.",
    "flow": "A deep link into one task. Absent: the portal's home page.",
    "subscription": "For the subscription_* flows. Absent: the customer's one live subscription.",
    "price": "For subscription_update_confirm: the new price of the single item.",
    "quantity": "For subscription_update_confirm: the new quantity of the single item.",
    "after_completion": "What happens after the flow; only with flow.",
    "after_completion_url": "With after_completion=redirect: same rules as return_url.",
}


def _slugs_by_status() -> dict[int, list[str]]:
    found: dict[int, set[str]] = {}
    classes: list[type[Problem]] = [Problem]
    while classes:
        problem = classes.pop()
        found.setdefault(problem.status, set()).add(problem.slug)
        classes.extend(problem.__subclasses__())
    return {status: sorted(slugs) for status, slugs in sorted(found.items())}


def _parameter_schemas() -> dict[str, dict[str, Any]]:
    """Each parameter's JSON schema (without pydantic's "or null" and titles)."""
    properties = PortalRequest.model_json_schema()["properties"]
    schemas = {}
    for name, schema in properties.items():
        (kept,) = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
        schemas[name] = {**kept, "description": DESCRIPTIONS[name]}
    return schemas


def _problem(status: int, slugs: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {
                "properties": {
                    "status": {"const": status},
                    "type": {"enum": [PROBLEM_TYPE_BASE + slug for slug in slugs]},
                }
            },
        ]
    }
    headers: dict[str, Any] = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string", "pattern": "^Bearer"}}
    if status == 405:
        headers["Allow"] = {"schema": {"type": "string"}}
    if status == 503:
        headers["Retry-After"] = {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    answer: dict[str, Any] = {
        "description": ", ".join(slugs),
        "content": {
            "application/problem+json": {"schema": schema},
            # A browser's navigation (Accept names text/html) without ERROR_REDIRECT_URL.
            "text/html": {
                "schema": {
                    "type": "string",
                    "description": "The same problem as a page for people (web/error_page.py).",
                }
            },
        },
    }
    if headers:
        answer["headers"] = headers
    return answer


def document() -> dict[str, Any]:
    parameters = _parameter_schemas()
    problems = {
        str(status): _problem(status, slugs) for status, slugs in _slugs_by_status().items()
    }
    success = {
        "303": {
            "description": "The portal session: the browser follows Location (the default).",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
        },
        "200": {
            "description": "The portal session's URL, when Accept prefers application/json.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Url"}}},
        },
    }
    body = {"type": "object", "additionalProperties": False, "properties": parameters}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "billing-portal",
            "version": "1",
            "summary": "The signed-in user's Stripe customer-portal session.",
            "description": f"The reference in words: {PARAMETERS_DOC}. Errors are RFC 9457 "
            "problems; with ERROR_REDIRECT_URL set, a browser navigation gets a 303 to "
            "ERROR_REDIRECT_URL?error=<slug> instead. Behind API Gateway, its JWT authorizer's "
            '401 and its throttle\'s 429 are {"message": ...} JSON, before the function runs.',
        },
        "paths": {
            ROUTE: {
                "get": {
                    "summary": "Open the portal (parameters in the query string)",
                    "operationId": "openPortalGet",
                    "parameters": [
                        {"name": name, "in": "query", "required": False, "schema": schema}
                        for name, schema in parameters.items()
                    ],
                    "responses": {**success, **problems},
                },
                "post": {
                    "summary": "Open the portal (parameters in the body)",
                    "operationId": "openPortalPost",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": body},
                            "application/json": {"schema": body},
                        },
                    },
                    "responses": {**success, **problems},
                },
                "options": {
                    "summary": "CORS preflight",
                    "operationId": "preflight",
                    "responses": {
                        "204": {"description": "The origin is one of ALLOWED_ORIGINS."},
                        "403": problems["403"],
                    },
                },
            }
        },
        "components": {
            "schemas": {
                "Url": {
                    "type": "object",
                    "required": ["url"],
                    "additionalProperties": False,
                    "properties": {"url": {"type": "string", "format": "uri"}},
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string", "format": "uri"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {
                            "type": "string",
                            "description": "The API Gateway request id.",
                        },
                        "errors": {
                            "type": "array",
                            "maxItems": 20,
                            "items": {
                                "type": "object",
                                "required": ["parameter", "detail"],
                                "properties": {
                                    "parameter": {"type": "string"},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            }
        },
    }


def render() -> str:
    header = "# Generated by `python3 uvw.py run python -m local.openapi`: edit that, not this.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
