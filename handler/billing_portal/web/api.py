"""The route and its answers: GET/POST /billing/portal -> 303 to the portal (or JSON for fetch),
every error mapped to a problem in one place, and one log line per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from billing_portal.errors import MethodNotAllowed, NotFound, Problem, ServerMisconfigured
from billing_portal.observability import bug, request_failed, session_created
from billing_portal.web import cors
from billing_portal.web.auth import identify
from billing_portal.web.params import parse_request
from billing_portal.web.responses import EVERY_ANSWER, portal_response, problem_response

if TYPE_CHECKING:
    from billing_portal.portal import Portal
    from billing_portal.settings import Settings
    from billing_portal.web.tokens import TokenVerifier

logger = Logger()

ROUTE = "/billing/portal"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def portal_api(
    resolver: APIGatewayHttpResolver,
    settings: Settings,
    portal: Portal,
    verifier: TokenVerifier | None,
) -> Handler:
    """The endpoint: who is asking, what they ask for, the session URL they get."""
    salt = settings.user_hash_salt.get_secret_value().encode()

    @resolver.route(ROUTE, method=["GET", "POST"])
    def billing_portal() -> Response:
        event = resolver.current_event
        user = identify(event, settings, verifier)
        logger.append_keys(user=user.pseudonym(salt))
        request = parse_request(event, settings.allowed_origins)
        url = portal.session_url(user, request)
        session_created(flow=request.flow or "home")
        return portal_response(url, event.headers.get("accept"))

    # Behind the HTTP API its own CORS configuration answers preflights; a function URL or the
    # local server hands them to the function.
    @resolver.route(ROUTE, method=["OPTIONS"])
    def preflight() -> Response:
        return cors.preflight(resolver.current_event.headers, settings.allowed_origins)

    _answer_errors(resolver, settings.error_redirect_url)
    return _logged(resolver, settings.allowed_origins)


def misconfigured_api(resolver: APIGatewayHttpResolver) -> Handler:
    """What a container with bad settings answers: a 500 problem on the route, not a crash."""

    @resolver.route(ROUTE, method=["GET", "POST", "OPTIONS"])
    def misconfigured() -> Response:
        raise ServerMisconfigured("This endpoint is not configured correctly.")

    _answer_errors(resolver, None)
    return _logged(resolver, frozenset())


def _answer_errors(resolver: APIGatewayHttpResolver, error_redirect_url: str | None) -> None:
    """The one place where errors become answers."""

    @resolver.route(ROUTE, method=["PUT", "PATCH", "DELETE", "HEAD"])
    def other_methods() -> Response:
        raise MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})

    @resolver.not_found
    def not_found(_: Exception) -> Response:
        return handle_problem(NotFound(f"Nothing here; the endpoint is {ROUTE}."))

    @resolver.exception_handler(Problem)
    def handle_problem(problem: Problem) -> Response:
        if problem.status >= 500:
            logger.warning("Request failed", extra={"problem": problem.slug})
        request_failed(problem)
        return answer(problem)

    @resolver.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        # A bug, not a request problem: the operator needs the traceback; the caller gets a 500.
        logger.exception("Unhandled error", extra={"error": type(exc).__name__})
        bug()
        return answer(Problem("Something went wrong; it has been logged."))

    def answer(problem: Problem) -> Response:
        event = resolver.current_event
        return problem_response(
            problem,
            request_id=event.request_context.request_id,
            accept=event.headers.get("accept"),
            error_redirect_url=error_redirect_url,
        )


def _logged(resolver: APIGatewayHttpResolver, allowed_origins: frozenset[str]) -> Handler:
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response = resolver.resolve(event, context)
        # On every answer, errors included, so that a frontend can read it.
        response.setdefault("headers", {}).update(
            cors.response_headers(event.get("headers") or {}, allowed_origins), **EVERY_ANSWER
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

    return handle
