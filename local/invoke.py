"""Invoke the real handler with events/*.json on this machine, no AWS, Stripe or Docker needed.

    python3 uvw.py run python -m local.invoke                    # every event in events/
    python3 uvw.py run python -m local.invoke events/home.json   # just these

DynamoDB is moto (in process) seeded with the demo user; Stripe is the local stand-in
(testing/fake_stripe.py). A file that is not an API Gateway HTTP API event (payload 2.0) is
refused in one line before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from local.apigw import invoke_function
from local.checks import log_level_problem
from testing.fake_stripe import FakeStripe
from testing.harness import (
    DEMO_SETTINGS,
    DEMO_USER,
    EVENTS,
    LambdaContext,
    create_table,
    put_customer,
)


class EventError(Exception):
    """Why a file cannot be invoked, in one sentence."""


def load_event(path: Path) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event from a JSON file."""
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventError(f"{path}: no such file (the examples are in events/)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EventError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise EventError(f"{path}: not JSON ({exc})") from None
    if path.name == "env.json":
        raise EventError(
            f"{path}: this is sam local's environment variables (--env-vars), not an event"
        )
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict) or not isinstance(context.get("http"), dict):
        raise EventError(
            f"{path}: not an API Gateway HTTP API event (payload 2.0: requestContext.http)"
        )
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="*", type=Path, help="event files (default: events/*.json)")
    args = parser.parse_args()
    files = args.events or sorted(p for p in EVENTS.glob("*.json") if p.name != "env.json")
    try:
        events = [(path, load_event(path)) for path in files]
    except EventError as exc:
        sys.exit(f"local.invoke: {exc}")
    log_level = log_level_problem(os.environ)
    if log_level:
        sys.exit(f"local.invoke: {log_level}")

    with FakeStripe() as stripe, mock_aws():
        os.environ.update({**DEMO_SETTINGS, "STRIPE_API_BASE": stripe.url})
        # Keep the output to the answers: no request logs or metric lines.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb)
        customer = stripe.add_customer(email="demo@example.com")
        put_customer(dynamodb, DEMO_USER, customer)
        # One live single-item subscription, so the subscription_* flow events have one to act on.
        stripe.add_subscription(customer=customer)
        # Imported now, with the environment set, as Lambda imports the entry point.
        from billing_portal.app import lambda_handler as handler

        for path, event in events:
            response = invoke_function(handler, event, LambdaContext())
            print(f"== {path.name}: {response['statusCode']}")
            for name, value in response.get("headers", {}).items():
                print(f"   {name}: {value}")
            if response.get("body"):
                print(f"   {response['body']}")


if __name__ == "__main__":
    main()
