"""Lambda entry: GET/POST /billing/portal -> 303 to the user's Stripe customer portal.

Everything that can be built once is built at import (cold start); a bad setting is logged once
and then answered with a 500 problem on every request instead of crashing the container.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from auth import identify
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from customers import CustomerTable
from errors import MethodNotAllowed, NotFound, Problem, ServerMisconfigured
from http_responses import portal_response, problem_response
from params import parse_request
from portal import Portal
from settings import Settings, SettingsError
from stripe_api import StripeApi

logger = Logger()
# Patch only what we call (DynamoDB via botocore, Stripe via requests), not all of patch_all().
tracer = Tracer(patch_modules=("botocore", "requests"))
metrics = Metrics()
app = APIGatewayHttpResolver()

ROUTE = "/billing/portal"


def _build() -> tuple[Settings | None, Portal | None]:
    try:
        settings = Settings.from_environ()
    except SettingsError as exc:
        logger.error(f"Invalid settings, every request will get a 500: {exc}")
        return None, None
    dynamodb = boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
    customers = CustomerTable(
        dynamodb,
        settings.customers_table,
        settings.customers_table_key,
        settings.customer_id_attribute,
    )
    return settings, Portal(settings, customers, StripeApi(settings))


SETTINGS, PORTAL = _build()


@app.route(ROUTE, method=["GET", "POST"])
def billing_portal() -> Response:
    if SETTINGS is None or PORTAL is None:
        raise ServerMisconfigured("This endpoint is not configured correctly.")
    event = app.current_event
    user = identify(event, SETTINGS)
    logger.append_keys(user=user.key_hash)
    request = parse_request(event, SETTINGS.allowed_origins)
    url = PORTAL.session_url(user, request)
    metrics.add_metric(name="PortalSessionCreated", unit=MetricUnit.Count, value=1)
    return portal_response(url, event.headers.get("accept"))


@app.route(ROUTE, method=["PUT", "PATCH", "DELETE", "HEAD"])
def other_methods() -> Response:
    raise MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})


@app.not_found
def not_found(_: Exception) -> Response:
    return _problem(NotFound(f"Nothing here; the endpoint is {ROUTE}."))


@app.exception_handler(Problem)
def handle_problem(problem: Problem) -> Response:
    if problem.status >= 500:
        logger.warning("Request failed", extra={"problem": problem.slug})
    return _problem(problem)


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception) -> Response:
    # A bug, not a request problem: the operator needs the traceback; the caller gets a 500.
    logger.exception("Unhandled error", extra={"error": type(exc).__name__})
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
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    response = app.resolve(event, context)
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
