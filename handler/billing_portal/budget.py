"""The time budget: every outbound timeout and retry, and the worst cases derived from them.

A slow or failing dependency must end in our 503 before the function's own timeout (10 s in
template.yaml) and long before API Gateway's 30 s. Each client's worst case is computed here from
the same numbers its configuration is built from, so a change to a timeout moves every worst
case that depends on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.config import Config
from stripe import HTTPClient

# Outside a Lambda request (scripts, tools) plan for the template's timeout.
FUNCTION_TIMEOUT_MS = 10_000


class Deadline:
    """When the invocation under way must have answered: started by the wrapping at each
    invocation (web/invocation.py) from Lambda's context, read by the Stripe adapter to fit its
    retries and timeouts in the time left. Before the first invocation (SnapStart's warm-up,
    scripts) the function's whole timeout is left."""

    def __init__(self) -> None:
        self._ends_at: float | None = None

    def start(self, remaining_ms: int) -> None:
        self._ends_at = time.monotonic() + remaining_ms / 1000

    def remaining_ms(self) -> int:
        if self._ends_at is None:
            return FUNCTION_TIMEOUT_MS
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


# --- AWS (DynamoDB, and the Stripe key's store) -------------------------------------------------
# "standard" retries throttling, 5xx and network errors with jittered backoff (the n-th retry
# sleeps at most min(2 ** (n - 1), 20) s) and a retry quota that stops retrying when most calls
# fail; "adaptive" would add client-side rate limiting that may sleep before sending, a wait
# this budget cannot afford.
@dataclass(frozen=True)
class AwsCalls:
    connect_timeout: float
    read_timeout: float
    attempts: int

    @property
    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
        )

    @property
    def worst_case_ms(self) -> int:
        """Every attempt times out and every backoff sleeps its longest."""
        backoff = sum(min(2 ** (n - 1), 20) for n in range(1, self.attempts))
        return int(1000 * (self.attempts * (self.connect_timeout + self.read_timeout) + backoff))


# DynamoDB answers in milliseconds in-region: short timeouts turn a sick endpoint into a quick
# 503 and leave most of the budget to Stripe. Worst case 2 x (0.5 + 1) + 1 = 4 s.
DYNAMODB = AwsCalls(connect_timeout=0.5, read_timeout=1.0, attempts=2)
# The key is read on a cold start and every 5 minutes, inside a user's request: one retry
# instead of boto3's 60 s defaults, so a sick SSM is a quick 503, not a hang.
KEY_STORE = AwsCalls(connect_timeout=1.0, read_timeout=2.0, attempts=2)

# The issuer's JWKS download (in-function token verification); a failure keeps the known keys.
JWKS_FETCH_TIMEOUT = 2.0


# --- Stripe -------------------------------------------------------------------------------------
# The SDK retries connection errors, 409s, 5xx and `Stripe-Should-Retry: true` answers by itself,
# sleeping 0.5 s, 1 s, 2 s, ... between attempts (HTTPClient.INITIAL_DELAY doubling, jittered
# downwards, capped at MAX_DELAY), but its timeout is fixed per HTTP client and it has no
# deadline. So each call gets a plan made from the time left at that moment: as many full-size
# attempts as fit in the worst case, else fewer, shorter ones.

# TCP to api.stripe.com from an AWS region takes milliseconds; a second without it means down.
STRIPE_CONNECT_TIMEOUT = 1.0
# A portal session (or a customer/subscription call) answers in well under a second; 3 s covers
# Stripe's slow tail without letting one hung attempt eat the whole budget.
STRIPE_READ_TIMEOUT = 3.0
# Stripe's recommended default. With the template's 10 s timeout one retry fits (2 x 4 s + 0.5 s).
STRIPE_MAX_RETRIES = 2
# Kept back after the last attempt for answering, logging and flushing metrics.
RESERVE = 0.5
# Shortest attempt worth retrying with when full-size attempts don't fit twice: Stripe answers
# in hundreds of ms. Small enough that a first click's customer creation, which keeps time back
# for what follows it, still gets its retry once the click has spent a few hundred ms.
MIN_RETRY_ATTEMPT = 1.0
# Less than this left: an attempt cannot succeed, so answer 503 at once instead of trying.
MIN_ATTEMPT = 0.3
# A new customer is followed by the mapping write, its profile (best effort) and the session:
# their time is kept back from the creation call, and the session's from the profile's, so a slow
# Stripe ends in our 503 (or a customer without a name yet) instead of the function's timeout.
AFTER_PROFILE_MS = int(1000 * (STRIPE_CONNECT_TIMEOUT + STRIPE_READ_TIMEOUT) / 2)
AFTER_CUSTOMER_CREATED_MS = DYNAMODB.worst_case_ms + AFTER_PROFILE_MS


@dataclass(frozen=True)
class Plan:
    retries: int
    connect_timeout: float
    read_timeout: float

    @property
    def worst_case(self) -> float:
        """Seconds the call can take at most: every attempt times out, every sleep is longest."""
        attempts = self.retries + 1
        return attempts * (self.connect_timeout + self.read_timeout) + _stripe_backoff(self.retries)


def _stripe_backoff(retries: int) -> float:
    """The SDK's longest total sleep before `retries` retries."""
    return sum(
        min(HTTPClient.INITIAL_DELAY * 2 ** (n - 1), HTTPClient.MAX_DELAY)
        for n in range(1, retries + 1)
    )


def stripe_plan(remaining_ms: int) -> Plan | None:
    """The attempts that fit in `remaining_ms`, or None when not even one short attempt does."""
    budget = remaining_ms / 1000 - RESERVE
    for retries in range(STRIPE_MAX_RETRIES, 0, -1):
        full = Plan(retries, STRIPE_CONNECT_TIMEOUT, STRIPE_READ_TIMEOUT)
        if full.worst_case <= budget:
            return full
    # No room for a full-size retry: one retry of shorter attempts still rescues the common
    # transient failures (a 5xx, a reset connection), which answer fast.
    attempt = (budget - _stripe_backoff(1)) / 2
    if attempt >= MIN_RETRY_ATTEMPT:
        return _shrunk(1, attempt)
    if budget < MIN_ATTEMPT:
        return None
    return _shrunk(0, min(STRIPE_CONNECT_TIMEOUT + STRIPE_READ_TIMEOUT, budget))


def _shrunk(retries: int, attempt: float) -> Plan:
    connect = min(STRIPE_CONNECT_TIMEOUT, attempt / 4)
    return Plan(retries, connect, attempt - connect)
