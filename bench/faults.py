"""Each fault scenario once through the real handler: status, elapsed time, Stripe attempts and
the invocation time left when the answer was ready (the function's timeout is 10 s).

    python3 -m uv run python -m bench.faults

Stripe is the local stand-in (fail_next / drop_next / delay), DynamoDB is moto, a closed
loopback port, a loopback server answering DynamoDB errors, or one that never answers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from testing.failing_dynamodb import FailingDynamoDB
from testing.fake_stripe import FakeStripe
from testing.harness import (
    DEMO_SETTINGS,
    DEMO_USER,
    EVENTS,
    LambdaContext,
    create_table,
    put_customer,
)

TIMEOUT_MS = 10_000  # template.yaml's Timeout
SESSIONS = "/v1/billing_portal/sessions"


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_endpoint() -> Iterator[str]:
    """Accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def failing(status: int, error: str) -> Iterator[str]:
    with FailingDynamoDB(status, error) as fake:
        yield fake.url


def run(
    stripe: FakeStripe,
    name: str,
    *,
    arrange: Callable[[FakeStripe], None] = lambda _: None,
    dynamodb: Callable[[], contextlib.AbstractContextManager[str]] | None = None,
    env: dict[str, str] | None = None,
    remaining_ms: int = TIMEOUT_MS,
) -> tuple[str, int, float, int, float]:
    stripe.reset()
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    os.environ.update({**DEMO_SETTINGS, "STRIPE_API_BASE": stripe.url, **(env or {})})
    with contextlib.ExitStack() as stack:
        if dynamodb is None:
            stack.enter_context(mock_aws())
            client = boto3.client("dynamodb")
            create_table(client)
            put_customer(client, DEMO_USER, stripe.add_customer(email="demo@example.com"))
        else:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = stack.enter_context(dynamodb())
        handler = cold_start()
        arrange(stripe)
        event = json.loads((EVENTS / "home.json").read_text())
        started = time.perf_counter()
        response = handler(event, LambdaContext(remaining_ms=remaining_ms))
        elapsed = (time.perf_counter() - started) * 1000
    attempts = len(stripe.calls("POST", SESSIONS))
    return name, response["statusCode"], elapsed, attempts, remaining_ms - elapsed


def cold_start() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A handler built from the environment as it is now, as on a fresh container."""
    # Imported on first use, not at the top: powertools' Logger and Metrics read POWERTOOLS_*
    # and take sys.stdout when the package is imported, so after the settings and the redirect.
    from billing_portal.factory import build

    parameters.clear_caches()
    return build(os.environ)


def main() -> None:
    # Only --help: without a parser, `--help` would run the whole benchmark.
    argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog=" ".join(__doc__.split("\n\n")[2].split()),
    ).parse_args()
    rows = []
    # The handler's logs and metric lines are not the point here.
    with FakeStripe() as stripe, contextlib.redirect_stdout(io.StringIO()):
        scenarios: list[dict[str, Any]] = [
            {"name": "healthy"},
            {"name": "stripe 500 once, then OK", "arrange": lambda s: s.fail_next(500)},
            {"name": "stripe 500 always", "arrange": lambda s: s.fail_next(500, times=9)},
            {"name": "stripe 429", "arrange": lambda s: s.fail_next(429)},
            {
                "name": "stripe 429, Retry-After: 7",
                "arrange": lambda s: s.fail_next(429, retry_after=7),
            },
            {"name": "stripe drops connection once", "arrange": lambda s: s.drop_next()},
            {"name": "stripe drops every connection", "arrange": lambda s: s.drop_next(times=9)},
            {"name": "stripe slow (20 s)", "arrange": lambda s: setattr(s, "delay", 20.0)},
            {
                "name": "stripe slow (20 s), 3 s left",
                "arrange": lambda s: setattr(s, "delay", 20.0),
                "remaining_ms": 3000,
            },
            {"name": "stripe 401 (key rejected)", "env": {"STRIPE_API_KEY": "sk_test_revoked"}},
            {
                "name": "stripe 400 (no portal config)",
                "arrange": lambda s: s.fail_next(400),
            },
            {"name": "dynamodb unreachable", "dynamodb": closed_port},
            {"name": "dynamodb never answers", "dynamodb": silent_endpoint},
            {
                "name": "dynamodb throttled",
                "dynamodb": lambda: failing(400, "ProvisionedThroughputExceededException"),
            },
            {"name": "dynamodb 500", "dynamodb": lambda: failing(500, "InternalServerError")},
            {
                "name": "bad settings at cold start",
                "env": {"DEFAULT_RETURN_URL": "https://x.test/"},
            },
        ]
        for scenario in scenarios:
            rows.append(run(stripe, **scenario))
    print(f"{'scenario':<32} {'status':>6} {'elapsed ms':>10} {'stripe attempts':>15} "
          f"{'ms left':>8}")  # fmt: skip
    for name, status, elapsed, attempts, left in rows:
        print(f"{name:<32} {status:>6} {elapsed:>10.0f} {attempts:>15} {left:>8.0f}")


if __name__ == "__main__":
    main()
