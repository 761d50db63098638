"""The Stripe time budget: whatever the time left, the worst case of the planned attempts ends
before the invocation does."""

from __future__ import annotations

import stripe_budget
from stripe_budget import RESERVE, plan


def test_the_worst_case_always_ends_before_the_invocation() -> None:
    for remaining_ms in range(0, 30_001, 50):
        attempts = plan(remaining_ms)

        if attempts is not None:
            assert attempts.worst_case + RESERVE <= remaining_ms / 1000 + 1e-9, remaining_ms
            assert min(attempts.connect_timeout, attempts.read_timeout) > 0


def test_with_the_templates_timeout_a_failed_attempt_gets_one_full_size_retry() -> None:
    attempts = plan(10_000)

    assert attempts is not None
    assert attempts.retries == 1
    assert attempts.connect_timeout == stripe_budget.CONNECT_TIMEOUT
    assert attempts.read_timeout == stripe_budget.READ_TIMEOUT


def test_with_almost_no_time_left_stripe_is_not_tried() -> None:
    assert plan(600) is None
