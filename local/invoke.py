"""Invoke the real handler with events/*.json on this machine, no AWS, Stripe or Docker needed.

    uv run python -m local.invoke                    # every event in events/
    uv run python -m local.invoke events/home.json   # just these

DynamoDB is moto (in process) seeded with the demo user; Stripe is the local stand-in
(testing/fake_stripe.py).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import boto3
from moto import mock_aws

from local.apigw import invoke_function
from testing.fake_stripe import FakeStripe
from testing.harness import (
    DEMO_SETTINGS,
    DEMO_USER,
    EVENTS,
    LambdaContext,
    create_table,
    put_customer,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="*", type=Path, help="event files (default: events/*.json)")
    args = parser.parse_args()
    files = args.events or sorted(p for p in EVENTS.glob("*.json") if p.name != "env.json")

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

        for path in files:
            response = invoke_function(handler, json.loads(path.read_text()), LambdaContext())
            print(f"== {path.name}: {response['statusCode']}")
            for name, value in response.get("headers", {}).items():
                print(f"   {name}: {value}")
            if response.get("body"):
                print(f"   {response['body']}")


if __name__ == "__main__":
    main()
