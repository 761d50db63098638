"""Everything around a request, in one place, outermost first:

1. the log context: the request id and cold start on every line, keys cleared between requests;
2. the trace, which never records the response (it holds the session URL);
3. the metrics flush: the request's one outcome metric;
4. the deadline the Stripe adapter fits its retries in;
5. errors turned into answers: a Problem's status and metric are on its class (errors.py), its
   rendering in responses.py; anything else is a logged bug and a 500;
6. CORS and nosniff headers on every answer, errors included, and one access log line (with
   the version that answered, which the rollout's gate counts).

One event is not a request: the PreTraffic hook's direct invocation `{"readiness": {...}}`
(readiness.py), answered by the readiness check instead of the routes. API Gateway's and function
URLs' events always hold `requestContext` and never a top-level `readiness`, so no HTTP request
can reach the check.

Errors and headers are handled here around `resolve`, not in powertools middleware: an error's
answer is built by the exception handlers after the middleware chain has been left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths

from billing_portal.budget import Deadline
from billing_portal.errors import NotFound, Problem
from billing_portal.observability import metrics, outcome, tracer
from billing_portal.web import cors
from billing_portal.web.api import ROUTE
from billing_portal.web.params import return_url_of
from billing_portal.web.responses import EVERY_ANSWER, problem_response

# The package's one root logger; every other module logs through a child of it.
logger = Logger()

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# The readiness check, given the event's "readiness" object.
ReadinessCheck = Callable[[Any], dict[str, Any]]


def wrap(
    resolver: APIGatewayHttpResolver,
    deadline: Deadline,
    *,
    allowed_origins: frozenset[str],
    error_redirect_url: str | None,
    readiness: ReadinessCheck,
    default_return_url: str | None = None,
) -> Handler:
    """The Lambda handler: the resolver's routes (web/api.py) with all of the above around."""
    _answer_errors(resolver, error_redirect_url, allowed_origins, default_return_url)

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event holds bearer tokens
    # and session cookies.
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True, log_event=False
    )
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline.start(context.get_remaining_time_in_millis())
        if "readiness" in event and "requestContext" not in event:
            return readiness(event["readiness"])
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
                # The rollout's gate counts a version's own 5xx by this (template.yaml).
                "version": context.function_version,
            },
        )
        return response

    return lambda_handler


def _answer_errors(
    resolver: APIGatewayHttpResolver,
    error_redirect_url: str | None,
    allowed_origins: frozenset[str],
    default_return_url: str | None,
) -> None:
    @resolver.not_found
    def not_found(_: Exception) -> Response:
        return handle_problem(NotFound(f"Nothing here; the endpoint is {ROUTE}."))

    @resolver.exception_handler(Problem)
    def handle_problem(problem: Problem) -> Response:
        if problem.status >= 500:
            logger.warning("Request failed", extra={"problem": problem.slug})
        outcome(problem.metric, **problem.metric_dimensions())
        return answer(problem)

    @resolver.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        # A bug, not a request problem: the operator needs the traceback; the caller gets a 500.
        logger.exception("Unhandled error", extra={"error": type(exc).__name__})
        outcome("UnhandledErrors")
        return answer(Problem("Something went wrong; it has been logged."))

    def answer(problem: Problem) -> Response:
        event = resolver.current_event
        return problem_response(
            problem,
            request_id=event.request_context.request_id,
            accept=event.headers.get("accept"),
            error_redirect_url=error_redirect_url,
            back_url=lambda: return_url_of(event, allowed_origins) or default_return_url,
        )
