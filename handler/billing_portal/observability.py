"""What operators see of each request: one outcome metric (powertools Metrics, EMF) with the
dimensions that say which outcome, and X-Ray traces of the calls to DynamoDB and Stripe.

Which metric a refusal counts as is written on its problem class (errors.py)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# Patch only what we call (DynamoDB via botocore, Stripe via requests), not all of patch_all().
tracer = Tracer(patch_modules=("botocore", "requests"))
metrics = Metrics()
# Every request ends in one outcome metric; an answer that has none (say a CORS preflight) is
# fine, not worth a UserWarning from log_metrics in the logs.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


def outcome(metric: str, **dimensions: str) -> None:
    """The request's one outcome: a count, with these dimensions."""
    for name, value in dimensions.items():
        metrics.add_dimension(name=name, value=value or "unknown")
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def event(metric: str, **dimensions: str) -> None:
    """Something that happened on the way to the outcome (a deleted customer replaced): its own
    count with its own dimensions, printed at once, apart from the request's outcome metric."""
    with single_metric(
        name=metric, unit=MetricUnit.Count, value=1, default_dimensions=metrics.default_dimensions
    ) as metric_:
        for name, value in dimensions.items():
            metric_.add_dimension(name=name, value=value)
