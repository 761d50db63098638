"""What operators see of each request: one outcome metric (powertools Metrics, EMF) with the
dimensions that say which outcome, and X-Ray traces of the calls to DynamoDB and Stripe."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from billing_portal.errors import (
    FlowUnavailable,
    ForbiddenOrigin,
    ForbiddenRole,
    NoBillingAccount,
    Problem,
    ServerMisconfigured,
    Unauthenticated,
    UpstreamUnavailable,
)

# Patch only what we call (DynamoDB via botocore, Stripe via requests), not all of patch_all().
tracer = Tracer(patch_modules=("botocore", "requests"))
metrics = Metrics()
# Every request ends in one outcome metric; an answer that has none (say a CORS preflight) is
# fine, not worth a UserWarning from log_metrics in the logs.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


def session_created(flow: str) -> None:
    """Count a created portal session by its flow ("home" for the portal's home page)."""
    _outcome("PortalSessionCreated", flow=flow)


def request_failed(problem: Problem) -> None:
    if isinstance(problem, UpstreamUnavailable):
        _outcome("UpstreamFailures", upstream=problem.upstream, reason=problem.reason)
    elif isinstance(problem, (Unauthenticated, ForbiddenOrigin, ForbiddenRole)):
        _outcome("AuthFailures")
    elif isinstance(problem, NoBillingAccount):
        _outcome("MissingBillingAccounts")
    elif isinstance(problem, ServerMisconfigured):
        _outcome("Misconfigurations")
    elif isinstance(problem, FlowUnavailable):
        # Apart from Misconfigurations (no alarm): a subscription's state, or a flow the portal
        # configuration leaves off; by flow, so a flow refused to everyone stands out.
        _outcome("FlowsUnavailable", flow=problem.flow)
    else:
        _outcome("RejectedRequests", problem=problem.slug)


def bug() -> None:
    _outcome("UnhandledErrors")


def _outcome(metric: str, **dimensions: str) -> None:
    """The request's one outcome: a count, with these dimensions."""
    for name, value in dimensions.items():
        metrics.add_dimension(name=name, value=value or "unknown")
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
