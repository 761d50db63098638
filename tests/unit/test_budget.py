"""The Stripe time budget: whatever the time left, the worst case of the planned attempts ends
before the invocation does."""

from __future__ import annotations

from billing_portal import budget
from billing_portal.budget import RESERVE, stripe_plan


def test_the_worst_case_always_ends_before_the_invocation() -> None:
    for remaining_ms in range(0, 30_001, 50):
        attempts = stripe_plan(remaining_ms)

        if attempts is not None:
            assert attempts.worst_case + RESERVE <= remaining_ms / 1000 + 1e-9, remaining_ms
            assert min(attempts.connect_timeout, attempts.read_timeout) > 0


def test_with_the_templates_timeout_a_failed_attempt_gets_one_full_size_retry() -> None:
    attempts = stripe_plan(10_000)

    assert attempts is not None
    assert attempts.retries == 1
    assert attempts.connect_timeout == budget.STRIPE_CONNECT_TIMEOUT
    assert attempts.read_timeout == budget.STRIPE_READ_TIMEOUT


def test_with_almost_no_time_left_stripe_is_not_tried() -> None:
    assert stripe_plan(600) is None
