"""Stripe's share of the Lambda's remaining time: how many attempts, each with what timeout.

A slow or failing Stripe must end in our 503 before the function's own timeout (and long before
API Gateway's 30 s). The SDK retries connection errors, 409s, 5xx and `Stripe-Should-Retry: true`
answers by itself, sleeping 0.5 s, 1 s, 2 s, ... between attempts (`HTTPClient.INITIAL_DELAY`
doubling, jittered downwards, capped at `MAX_DELAY`), but its timeout is fixed per HTTP client
and it has no deadline. So each call gets a plan made from the time left at that moment: as many
full-size attempts as fit in the worst case, else fewer, shorter ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe import HTTPClient

# TCP to api.stripe.com from an AWS region takes milliseconds; a second without it means down.
CONNECT_TIMEOUT = 1.0
# A portal session (or a customer/subscription call) answers in well under a second; 3 s covers
# Stripe's slow tail without letting one hung attempt eat the whole budget.
READ_TIMEOUT = 3.0
# Stripe's recommended default. With the template's 10 s timeout one retry fits (2 x 4 s + 0.5 s).
MAX_RETRIES = 2
# Kept back after the last attempt for answering, logging and flushing metrics.
RESERVE = 0.5
# Shortest attempt worth retrying with when full-size attempts don't fit twice.
MIN_RETRY_ATTEMPT = 1.5
# Less than this left: an attempt cannot succeed, so answer 503 at once instead of trying.
MIN_ATTEMPT = 0.3


@dataclass(frozen=True)
class Plan:
    retries: int
    connect_timeout: float
    read_timeout: float

    @property
    def worst_case(self) -> float:
        """Seconds the call can take at most: every attempt times out, every sleep is longest."""
        attempts = self.retries + 1
        return attempts * (self.connect_timeout + self.read_timeout) + _backoff(self.retries)


def _backoff(retries: int) -> float:
    """The SDK's longest total sleep before `retries` retries."""
    return sum(
        min(HTTPClient.INITIAL_DELAY * 2 ** (n - 1), HTTPClient.MAX_DELAY)
        for n in range(1, retries + 1)
    )


def plan(remaining_ms: int) -> Plan | None:
    """The attempts that fit in `remaining_ms`, or None when not even one short attempt does."""
    budget = remaining_ms / 1000 - RESERVE
    for retries in range(MAX_RETRIES, 0, -1):
        full = Plan(retries, CONNECT_TIMEOUT, READ_TIMEOUT)
        if full.worst_case <= budget:
            return full
    # No room for a full-size retry: one retry of shorter attempts still rescues the common
    # transient failures (a 5xx, a reset connection), which answer fast.
    attempt = (budget - _backoff(1)) / 2
    if attempt >= MIN_RETRY_ATTEMPT:
        return _shrunk(1, attempt)
    if budget < MIN_ATTEMPT:
        return None
    return _shrunk(0, min(CONNECT_TIMEOUT + READ_TIMEOUT, budget))


def _shrunk(retries: int, attempt: float) -> Plan:
    connect = min(CONNECT_TIMEOUT, attempt / 4)
    return Plan(retries, connect, attempt - connect)
