"""Wiring: settings, clients and adapters built once, handed to the use case and the route.

`build(environ)` is the one place that knows every part and builds each of them; tests build one
handler per configuration, and app.py builds the deployed one from the process environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from billing_portal import budget, snapstart
from billing_portal.adapters import aws_session, stripe_api
from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.adapters.stripe_key import SECRETS_MANAGER_PREFIXES, StripeKey
from billing_portal.domain.flows import ServerChoices
from billing_portal.domain.request import Flow
from billing_portal.portal import Portal, PortalSettings
from billing_portal.settings import Settings, SettingsError
from billing_portal.web import invocation
from billing_portal.web.api import misconfigured_api, portal_api

if TYPE_CHECKING:
    from billing_portal.web.tokens import TokenVerifier

logger = Logger(child=True)


def build(
    environ: Mapping[str, str] | None = None, *, session: botocore.session.Session | None = None
) -> invocation.Handler:
    """A Lambda handler for these settings (default: the process environment).

    A bad setting is logged once, here, and every request then gets a 500 problem instead of a
    crash loop of tracebacks. `session` is the botocore session for DynamoDB and the key's store.
    """
    # debug=False whatever POWERTOOLS_DEV says: in debug mode powertools prints every event
    # (bearer tokens, session cookies) to stdout, and so to the logs, and answers 500s with
    # the traceback.
    resolver = APIGatewayHttpResolver(debug=False)
    deadline = budget.Deadline()
    try:
        settings = Settings.from_environ(environ)
    except SettingsError as exc:
        logger.error(f"Invalid settings, every request will get a 500: {exc}")
        misconfigured_api(resolver)
        reason = str(exc)

        def not_ready(_: Any) -> dict[str, Any]:
            from billing_portal import readiness

            return readiness.settings_failed(reason)

        return invocation.wrap(
            resolver,
            deadline,
            allowed_origins=frozenset(),
            error_redirect_url=None,
            readiness=not_ready,
        )
    session = session or aws_session.session()
    customers = CustomerTable(
        session.create_client("dynamodb", config=budget.DYNAMODB.config),
        settings.customers_table,
        settings.customers_table_key,
        settings.customer_id_attribute,
    )
    stripe_key = StripeKey(settings.stripe_api_key, settings.stripe_api_key_param, session)
    stripe_api.configure_library()
    stripe = stripe_api.StripeApi(
        stripe_key,
        api_base=settings.stripe_api_base,
        deadline=deadline,
        deployment=settings.customers_table,
    )
    portal = Portal(_portal_settings(settings), customers, stripe)
    # Built once: its JWKS key cache lives as long as the container.
    verifier = _token_verifier(settings, deadline)

    def after_restore() -> None:
        # Connections pooled before the snapshot are long dead; keys' ages are unknown.
        customers.drop_connections()
        stripe_key.drop_connections()
        stripe.drop_connections()
        if verifier is not None:
            verifier.restored()

    def ready(request: Any) -> dict[str, Any]:
        # Imported on the first readiness event, never on a click's cold start.
        from billing_portal.readiness import Readiness

        live = request.get("live_key") if isinstance(request, dict) else None
        return Readiness(
            key=stripe_key,
            key_source=_key_source(settings),
            customers=customers,
            stripe=stripe,
            configuration=settings.portal_configuration_id,
            flows=sorted(settings.portal_flows or ALL_FLOWS),
        ).run(expect_live=live if isinstance(live, bool) else None)

    snapstart.register(before_snapshot=stripe.warm, after_restore=after_restore)
    portal_api(resolver, settings, portal, verifier)
    return invocation.wrap(
        resolver,
        deadline,
        allowed_origins=settings.allowed_origins,
        error_redirect_url=settings.error_redirect_url,
        readiness=ready,
        default_return_url=settings.default_return_url,
    )


# Every flow the function can deep-link: what a deployment offers unless PORTAL_FLOWS narrows it.
ALL_FLOWS: tuple[str, ...] = get_args(Flow)


def _key_source(settings: Settings) -> str:
    """Where the key is read from, for the readiness check's detail: a name, never the key."""
    if settings.stripe_api_key is not None:
        return "STRIPE_API_KEY"
    param = settings.stripe_api_key_param or ""
    if param.startswith(SECRETS_MANAGER_PREFIXES):
        return f"the Secrets Manager secret {param.removeprefix('secretsmanager:')}"
    return f"the SSM parameter {param}"


def _portal_settings(settings: Settings) -> PortalSettings:
    return PortalSettings(
        default_return_url=settings.default_return_url,
        create_missing_customers=settings.create_missing_customers,
        configuration=settings.portal_configuration_id,
        after_expiration_login=settings.after_expiration_login,
        flows=settings.portal_flows,
        ours=ServerChoices(
            retention_coupon=settings.retention_coupon_id,
            promotion_code=settings.update_promotion_code,
            confirmation_message=settings.hosted_confirmation_message,
        ),
    )


def _token_verifier(settings: Settings, deadline: budget.Deadline) -> TokenVerifier | None:
    """The in-function verifier when AUTH_JWT_ISSUER is set."""
    if not settings.auth_jwt_issuer:
        return None
    # Imported here: PyJWT and cryptography cost ~60 ms of cold start, which deployments behind
    # the API Gateway authorizer never need.
    from billing_portal.web.tokens import SigningKeys, TokenVerifier

    jwks_url = settings.auth_jwks_url or (
        settings.auth_jwt_issuer.rstrip("/") + "/.well-known/jwks.json"
    )
    return TokenVerifier(
        settings.auth_jwt_issuer,
        settings.auth_jwt_audience,
        SigningKeys(jwks_url, timeout=budget.JWKS_FETCH_TIMEOUT, deadline=deadline),
    )
