"""Concurrent first clicks of one user, several times over: each time they end at one customer.

The one-off version (idempotency keys kept) is in test_customers.py; this repeats the race on
fresh state each run, also after Stripe has forgotten the idempotency key (it does after 24
hours), when only the table's conditional write keeps one mapping. Marked `slow` (a few
seconds); it runs in the default suite, `pytest -m "not slow"` leaves it out.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, session_customer
from testing.harness import DEMO_TABLE, LambdaContext

pytestmark = pytest.mark.slow

RUNS = 3
CLICKS = 8
CLAIMS = {"sub": "racing-user", "email": "racer@example.com", "name": "Racing User"}


class _Forgetful(dict[str, Any]):
    """An idempotency store that keeps nothing: every key looks new, as after 24 hours."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's per-item atomicity for moto's writes: moto reads the item, checks the
    condition and writes without a lock, so two threads could both pass attribute_not_exists.
    DynamoDB never lets that happen; without this a run could fail for moto's sake, not ours."""
    lock = threading.Lock()
    for name in ("update_item", "put_item"):
        write = getattr(DynamoDBBackend, name)

        def locked(self: DynamoDBBackend, *args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with lock:
                return _write(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def first_clicks_at_once(fake_stripe: FakeStripe, forget_keys: bool) -> list[dict[str, Any]]:
    """A cold start, then CLICKS first clicks of one user at once. The stand-in's delay keeps
    every creation request in flight together, so all of them read "no item" before any
    mapping is written."""
    fake_stripe.reset()
    fake_stripe.delay = 0.05
    if forget_keys:
        fake_stripe._idempotent = _Forgetful()
    handler = build_handler()
    start = threading.Barrier(CLICKS)

    def click(_: int) -> dict[str, Any]:
        start.wait()
        result: dict[str, Any] = handler(event("home", claims=CLAIMS), LambdaContext())
        return result

    with ThreadPoolExecutor(CLICKS) as pool:
        return list(pool.map(click, range(CLICKS)))


@pytest.mark.parametrize("forget_keys", [False, True], ids=["keys-kept", "keys-forgotten"])
def test_concurrent_first_clicks_always_end_at_one_mapped_customer(
    monkeypatch: pytest.MonkeyPatch,
    atomic_moto: None,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    forget_keys: bool,
) -> None:
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")
    for run in range(RUNS):
        dynamodb.delete_item(TableName=DEMO_TABLE, Key={"user_id": {"S": "racing-user"}})

        responses = first_clicks_at_once(fake_stripe, forget_keys)

        items = dynamodb.scan(TableName=DEMO_TABLE, ConsistentRead=True)["Items"]
        assert len(items) == 1, f"run {run}: {items}"
        mapped = items[0]["stripe_customer_id"]["S"]
        # Every click lands on the portal of the one customer the table names.
        assert [session_customer(fake_stripe, r) for r in responses] == [mapped] * CLICKS
        if not forget_keys:  # Stripe's idempotency makes the creations one customer
            assert list(fake_stripe.customers) == [mapped]
