"""Concurrent first clicks of one user, N times over: do they always end at one customer?

    python3 -m uv run python -m bench.race                     # 20 runs of 8 clicks
    python3 -m uv run python -m bench.race --runs 50 --clicks 16
    python3 -m uv run python -m bench.race --expired-keys      # as if Stripe had forgotten the key

Each run: a fresh moto table (built from template.yaml) and fresh stand-in state, a cold start
of the real handler with CREATE_MISSING_CUSTOMERS=true, then `clicks` threads calling
lambda_handler at once (the stand-in's delay keeps their creation requests in flight together).
A run passes when every click got a 303 to a session of one customer, the table holds exactly
one item for the user, and that item names that customer. `--expired-keys` makes the stand-in
forget idempotency keys (Stripe forgets them after 24 hours), leaving only the conditional
write to keep one mapping: several customers may then be created, yet one is mapped and used.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.harness import DEMO_SETTINGS, DEMO_TABLE, LambdaContext, create_table

CLAIMS = {"sub": "racing-user", "email": "racer@example.com", "name": "Racing User"}


def _atomic_updates() -> None:
    """Give moto's UpdateItem DynamoDB's per-item atomicity: moto reads the item, checks the
    condition and writes without a lock, so two threads can both pass attribute_not_exists.
    DynamoDB never lets that happen; without this, a run could fail for moto's sake, not ours."""
    update = DynamoDBBackend.update_item
    lock = threading.Lock()

    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return update(self, *args, **kwargs)

    DynamoDBBackend.update_item = locked  # type: ignore[method-assign]


class _Forgetful(dict[str, Any]):
    """An idempotency store that keeps nothing: every key looks new, as after 24 hours."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


def one_run(fake: FakeStripe, clicks: int, delay: float, expired_keys: bool) -> dict[str, Any]:
    fake.reset()
    fake.delay = delay
    if expired_keys:
        fake._idempotent = _Forgetful()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb)
        # A cold start: a handler built from the environment main() set. Imported here, after
        # it: powertools' Logger and Metrics read POWERTOOLS_* when the package is imported.
        from billing_portal.factory import build

        handler = build(os.environ)
        start = threading.Barrier(clicks)

        def click(_: int) -> dict[str, Any]:
            start.wait()
            result: dict[str, Any] = handler(event("home", claims=CLAIMS), LambdaContext())
            return result

        with ThreadPoolExecutor(clicks) as pool:
            responses = list(pool.map(click, range(clicks)))
        items = dynamodb.scan(TableName=DEMO_TABLE, ConsistentRead=True)["Items"]

    by_url = {s["url"]: s["customer"] for s in fake.sessions.values()}
    reached = {by_url.get(r.get("headers", {}).get("Location")) for r in responses}
    mapped = {i["stripe_customer_id"]["S"] for i in items}
    passed = (
        all(r["statusCode"] == 303 for r in responses)
        and len(items) == 1
        and len(reached) == 1
        and reached == mapped
    )
    return {
        "passed": passed,
        "items": len(items),
        "customers": len(fake.customers),
        "create_calls": len(fake.calls("POST", "/v1/customers")),
        "statuses": sorted({r["statusCode"] for r in responses}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.05, help="stand-in delay, seconds")
    parser.add_argument("--expired-keys", action="store_true")
    args = parser.parse_args()
    _atomic_updates()

    with FakeStripe() as fake:
        os.environ.update({**DEMO_SETTINGS, "STRIPE_API_BASE": fake.url})
        os.environ["CREATE_MISSING_CUSTOMERS"] = "true"
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # Keep the output to the numbers (metric lines and empty-metrics warnings aside).
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            results = [
                one_run(fake, args.clicks, args.delay, args.expired_keys) for _ in range(args.runs)
            ]

    def column(name: str) -> str:
        return " ".join(str(r[name]) for r in results)

    keys = "expired (stand-in forgets them)" if args.expired_keys else "kept"
    print(f"{args.runs} runs x {args.clicks} concurrent first clicks; idempotency keys {keys}")
    print(f"runs passed:                    {sum(r['passed'] for r in results)}/{args.runs}")
    print(f"items per run:                  {column('items')}")
    print(f"Stripe customers created / run: {column('customers')}")
    print(f"customer-create calls / run:    {column('create_calls')}")
    print(f"response statuses / run:        {' '.join(str(r['statuses']) for r in results)}")


if __name__ == "__main__":
    main()
