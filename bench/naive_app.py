"""The naive handler shape, for comparison in bench/perf.py. Not deployed, not tested.

What a first version of this function usually looks like: the whole boto3 imported, the
global Stripe API configured at module level (`stripe.api_key = ...`), and the DynamoDB
`boto3.resource(...).Table(...)` built inside the handler, on every request. It does the same
work as billing_portal.app on the happy path (same identity, parameter checks, answers, logs,
metrics and tracer), reusing billing_portal's modules for those, so the benchmark measures the
shape alone. Nothing here is slowed on purpose.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import stripe
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing_portal.settings import Settings
from billing_portal.web.auth import identify
from billing_portal.web.params import parse_request
from billing_portal.web.responses import portal_response

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()

SETTINGS = Settings.from_environ()
if SETTINGS.stripe_api_key_param:  # as deployed: the key from SSM, read once at import
    stripe.api_key = boto3.client("ssm").get_parameter(
        Name=SETTINGS.stripe_api_key_param, WithDecryption=True
    )["Parameter"]["Value"]
else:
    stripe.api_key = SETTINGS.stripe_api_key.get_secret_value() if SETTINGS.stripe_api_key else None
if SETTINGS.stripe_api_base:
    stripe.api_base = SETTINGS.stripe_api_base
SALT = SETTINGS.user_hash_salt.get_secret_value().encode()


def find_customer(user_key: str) -> dict[str, Any] | None:
    table = boto3.resource("dynamodb").Table(SETTINGS.customers_table)
    item: dict[str, Any] | None = table.get_item(Key={SETTINGS.customers_table_key: user_key}).get(
        "Item"
    )
    return item


def create_session(customer_id: str, return_url: str) -> str:
    session = stripe.billing_portal.Session.create(customer=customer_id, return_url=return_url)
    return str(session.url)


@app.route("/billing/portal", method=["GET", "POST"])
def billing_portal() -> Response:
    event = app.current_event
    user = identify(event, SETTINGS)
    logger.append_keys(user=user.pseudonym(SALT))
    request = parse_request(event, SETTINGS.allowed_origins)
    item = find_customer(user.key)
    if item is None:
        return Response(404, "application/problem+json", '{"status": 404}')
    url = create_session(
        item[SETTINGS.customer_id_attribute], request.return_url or SETTINGS.default_return_url
    )
    metrics.add_metric(name="PortalSessionCreated", unit=MetricUnit.Count, value=1)
    return portal_response(url, event.headers.get("accept"))


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
