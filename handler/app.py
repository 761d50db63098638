"""Lambda entry: GET/POST /billing/portal -> 303 to the user's Stripe customer portal.

Everything that can be built once is built at import (cold start); a bad setting is logged once
and then answered with a 500 problem on every request instead of crashing the container.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import boto3
import cors
from auth import identify, token_verifier
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from customers import DYNAMODB_CONFIG, CustomerTable
from errors import MethodNotAllowed, NotFound, Problem, ServerMisconfigured
from http_responses import portal_response, problem_response
from outcomes import bug, metrics, request_failed, session_created, tracer
from params import parse_request
from portal import Portal
from settings import Settings, SettingsError
from stripe_api import StripeApi

logger = Logger()
app = APIGatewayHttpResolver()

ROUTE = "/billing/portal"

# Every request ends in one outcome metric; an answer that has none (say a CORS preflight) is
# fine, not worth a UserWarning from log_metrics in the logs.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


def _build() -> tuple[Settings | None, Portal | None]:
    try:
        settings = Settings.from_environ()
    except SettingsError as exc:
        logger.error(f"Invalid settings, every request will get a 500: {exc}")
        return None, None
    dynamodb = boto3.client("dynamodb", config=DYNAMODB_CONFIG)
    customers = CustomerTable(
        dynamodb,
        settings.customers_table,
        settings.customers_table_key,
        settings.customer_id_attribute,
    )
    return settings, Portal(settings, customers, StripeApi(settings, remaining_ms=_remaining_ms))


def _remaining_ms() -> int:
    """The invocation's time left: Stripe's retries and timeouts are planned to fit in it."""
    return int(app.lambda_context.get_remaining_time_in_millis())


SETTINGS, PORTAL = _build()
# Built once: its JWKS key cache lives as long as the container.
VERIFIER = token_verifier(SETTINGS) if SETTINGS else None


@app.route(ROUTE, method=["GET", "POST"])
def billing_portal() -> Response:
    if SETTINGS is None or PORTAL is None:
        raise ServerMisconfigured("This endpoint is not configured correctly.")
    event = app.current_event
    user = identify(event, SETTINGS, VERIFIER)
    logger.append_keys(user=user.key_hash)
    request = parse_request(event, SETTINGS.allowed_origins)
    url = PORTAL.session_url(user, request)
    session_created(flow=request.flow or "home")
    return portal_response(url, event.headers.get("accept"))


@app.route(ROUTE, method=["OPTIONS"])
def preflight() -> Response:
    if SETTINGS is None:
        raise ServerMisconfigured("This endpoint is not configured correctly.")
    return cors.preflight(app.current_event.headers, SETTINGS.allowed_origins)


@app.route(ROUTE, method=["PUT", "PATCH", "DELETE", "HEAD"])
def other_methods() -> Response:
    raise MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})


@app.not_found
def not_found(_: Exception) -> Response:
    return handle_problem(NotFound(f"Nothing here; the endpoint is {ROUTE}."))


@app.exception_handler(Problem)
def handle_problem(problem: Problem) -> Response:
    if problem.status >= 500:
        logger.warning("Request failed", extra={"problem": problem.slug})
    request_failed(problem)
    return _problem(problem)


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception) -> Response:
    # A bug, not a request problem: the operator needs the traceback; the caller gets a 500.
    logger.exception("Unhandled error", extra={"error": type(exc).__name__})
    bug()
    return _problem(Problem("Something went wrong; it has been logged."))


def _problem(problem: Problem) -> Response:
    event = app.current_event
    return problem_response(
        problem,
        request_id=event.request_context.request_id,
        accept=event.headers.get("accept"),
        error_redirect_url=SETTINGS.error_redirect_url if SETTINGS else None,
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
# capture_response=False: the response holds the session URL, which must not reach X-Ray.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    response = app.resolve(event, context)
    if SETTINGS is not None:  # on every answer, errors included, so the frontend can read it
        response.setdefault("headers", {}).update(
            cors.response_headers(event.get("headers") or {}, SETTINGS.allowed_origins)
        )
    http = event.get("requestContext", {}).get("http", {})
    logger.info(
        "request",
        extra={
            "method": http.get("method"),
            "route": http.get("path"),
            "status": response.get("statusCode"),
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return response
