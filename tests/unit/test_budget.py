"""The time budget: whatever the time left, the worst case of the planned Stripe attempts ends
before the invocation does, and each AWS client's worst case is what its configuration allows."""

from __future__ import annotations

import pytest
from botocore.retries.standard import ExponentialBackoff, RetryContext

from billing_portal import budget
from billing_portal.budget import RESERVE, AwsCalls, stripe_plan


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


# --- AWS calls -----------------------------------------------------------------------------


def botocore_longest_sleeps(attempts: int) -> float:
    """What botocore's own "standard" backoff sleeps at most before the retries of `attempts`."""
    backoff = ExponentialBackoff(random=lambda: 1.0)
    return sum(backoff.delay_amount(RetryContext(n)) for n in range(1, attempts))


@pytest.mark.parametrize(
    ("calls", "worst_case_ms"),
    [
        (budget.DYNAMODB, 2 * (500 + 1000) + 1000),
        (budget.KEY_STORE, 2 * (1000 + 2000) + 1000),
        (AwsCalls(connect_timeout=1.0, read_timeout=2.0, attempts=1), 3000),
        (AwsCalls(connect_timeout=0.25, read_timeout=0.5, attempts=3), 3 * 750 + 1000 + 2000),
        (AwsCalls(connect_timeout=0.1, read_timeout=0.1, attempts=7), 1400 + 31_000 + 20_000),
    ],
)
def test_an_aws_worst_case_is_every_attempt_timing_out_and_every_sleep_longest(
    calls: AwsCalls, worst_case_ms: int
) -> None:
    assert calls.worst_case_ms == worst_case_ms
    timeouts = calls.attempts * (calls.connect_timeout + calls.read_timeout)
    assert calls.worst_case_ms == round(1000 * (timeouts + botocore_longest_sleeps(calls.attempts)))


@pytest.mark.parametrize("calls", [budget.DYNAMODB, budget.KEY_STORE])
def test_the_botocore_config_is_made_of_the_numbers_the_worst_case_counts(calls: AwsCalls) -> None:
    config = calls.config

    assert (config.connect_timeout, config.read_timeout) == (
        calls.connect_timeout,
        calls.read_timeout,
    )
    assert config.retries == {"mode": "standard", "total_max_attempts": calls.attempts}


def test_a_new_customer_leaves_time_for_the_mapping_write_and_the_session() -> None:
    after = budget.AFTER_CUSTOMER_CREATED_MS

    # With the template's 10 s, the creation call itself is still tried, and retried once, when
    # the click has already spent half a second (a cold start's key read, the lookup)...
    creation = stripe_plan(10_000 - 500 - after)
    assert creation is not None
    assert creation.retries == 1
    # ...and after the slowest mapping write, so is the session.
    assert stripe_plan(after - budget.DYNAMODB.worst_case_ms) is not None


def test_the_deadline_counts_down_from_the_invocations_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: now[0])
    deadline = budget.Deadline()
    # Before any invocation (SnapStart's warm-up): the function's whole timeout.
    assert deadline.remaining_ms() == budget.FUNCTION_TIMEOUT_MS

    deadline.start(3_000)
    now[0] += 1.25

    assert deadline.remaining_ms() == 1_750
    now[0] += 5
    assert deadline.remaining_ms() == 0
