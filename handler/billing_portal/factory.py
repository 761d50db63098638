"""Wiring: settings, clients and adapters built once, handed to the use case and the route.

`build(environ)` is the one place that knows every part; tests build one handler per
configuration, and app.py builds the deployed one from the process environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

from billing_portal import budget, snapstart
from billing_portal.adapters import aws_session
from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.adapters.stripe_api import StripeApi
from billing_portal.adapters.stripe_key import StripeKey
from billing_portal.observability import metrics, tracer
from billing_portal.portal import Portal
from billing_portal.settings import Settings, SettingsError
from billing_portal.web.api import Handler, misconfigured_api, portal_api
from billing_portal.web.auth import token_verifier

logger = Logger()


def build(
    environ: Mapping[str, str] | None = None, *, session: botocore.session.Session | None = None
) -> Handler:
    """A Lambda handler for these settings (default: the process environment).

    A bad setting is logged once, here, and every request then gets a 500 problem instead of a
    crash loop of tracebacks. `session` is the botocore session for DynamoDB and the key's store.
    """
    resolver = APIGatewayHttpResolver()
    try:
        settings = Settings.from_environ(environ)
    except SettingsError as exc:
        logger.error(f"Invalid settings, every request will get a 500: {exc}")
        return _observed(misconfigured_api(resolver))
    session = session or aws_session.session()
    customers = CustomerTable(
        session.create_client("dynamodb", config=budget.DYNAMODB.config),
        settings.customers_table,
        settings.customers_table_key,
        settings.customer_id_attribute,
    )
    stripe_key = StripeKey(settings.stripe_api_key, settings.stripe_api_key_param, session)
    stripe = StripeApi(
        stripe_key,
        api_base=settings.stripe_api_base,
        remaining_ms=lambda: _remaining_ms(resolver),
        deployment=settings.customers_table,
    )
    portal = Portal(settings, customers, stripe)
    # Built once: its JWKS key cache lives as long as the container.
    verifier = token_verifier(settings)

    def after_restore() -> None:
        # Connections pooled before the snapshot are long dead; keys' ages are unknown.
        customers.drop_connections()
        stripe_key.drop_connections()
        stripe.drop_connections()
        if verifier is not None:
            verifier.restored()

    snapstart.register(before_snapshot=stripe.warm, after_restore=after_restore)
    return _observed(portal_api(resolver, settings, portal, verifier))


def _remaining_ms(resolver: APIGatewayHttpResolver) -> int:
    """The invocation's time left, which Stripe's retries and timeouts are planned to fit in;
    outside an invocation (SnapStart's warm-up) the function's whole timeout."""
    context = getattr(resolver, "lambda_context", None)
    if context is None:
        return budget.FUNCTION_TIMEOUT_MS
    return int(context.get_remaining_time_in_millis())


def _observed(handle: Handler) -> Handler:
    """Logs carry the request id, traces never the response (it holds the session URL), and the
    request's outcome metric is flushed at the end."""

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle(event, context)

    return lambda_handler
