"""The route: GET/POST /billing/portal -> 303 to the portal (or JSON for fetch), its CORS
preflight, and 405 for other methods. What wraps every request is in invocation.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from billing_portal.errors import MethodNotAllowed, ServerMisconfigured
from billing_portal.observability import outcome
from billing_portal.web import cors
from billing_portal.web.auth import authorize, identify
from billing_portal.web.params import parse_request
from billing_portal.web.responses import portal_response

if TYPE_CHECKING:
    from billing_portal.portal import Portal
    from billing_portal.settings import Settings
    from billing_portal.web.tokens import TokenVerifier

logger = Logger(child=True)

ROUTE = "/billing/portal"


def portal_api(
    resolver: APIGatewayHttpResolver,
    settings: Settings,
    portal: Portal,
    verifier: TokenVerifier | None,
) -> None:
    """The endpoint: who is asking, what they ask for, the session URL they get."""
    salt = settings.user_hash_salt.get_secret_value().encode()

    @resolver.route(ROUTE, method=["GET", "POST"])
    def billing_portal() -> Response:
        event = resolver.current_event
        user = identify(event, settings, verifier)
        # From here on, the request's log lines name the user (the refusal alarm counts only
        # answers to someone authenticated).
        logger.append_keys(user=user.pseudonym(salt))
        authorize(event, user, settings)
        request = parse_request(event, settings.allowed_origins)
        url = portal.session_url(user, request)
        outcome("PortalSessionCreated", flow=request.flow or "home")
        return portal_response(url, event.headers.get("accept"))

    # Behind the HTTP API its own CORS configuration answers preflights; a function URL or the
    # local server hands them to the function.
    @resolver.route(ROUTE, method=["OPTIONS"])
    def preflight() -> Response:
        return cors.preflight(resolver.current_event.headers, settings.allowed_origins)

    _other_methods(resolver)


def misconfigured_api(resolver: APIGatewayHttpResolver) -> None:
    """What a container with bad settings answers: a 500 problem on the route, not a crash."""

    @resolver.route(ROUTE, method=["GET", "POST", "OPTIONS"])
    def misconfigured() -> Response:
        raise ServerMisconfigured("This endpoint is not configured correctly.")

    _other_methods(resolver)


def _other_methods(resolver: APIGatewayHttpResolver) -> None:
    @resolver.route(ROUTE, method=["PUT", "PATCH", "DELETE", "HEAD"])
    def other_methods() -> Response:
        raise MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})
