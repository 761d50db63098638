"""What Stripe's errors mean for callers; operators get the details in the log.

Only what identifies a failure is logged (error class, HTTP status, Stripe's code, param and
request id), never the key; Stripe's message only with emails and keys blanked out, since Stripe
echoes parameter values in it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import stripe
from aws_lambda_powertools import Logger

from billing_portal.errors import NoBillingAccount, ServerMisconfigured, UpstreamUnavailable

logger = Logger(child=True)
# Stripe's own Retry-After is honoured within these bounds (seconds).
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 60


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Turn the SDK's errors into problems (see the module docstring for what is logged)."""
    try:
        yield
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        logger.error("Stripe rejected our API key", extra=_described(exc))
        raise ServerMisconfigured(
            "The payment provider rejected this server's credentials."
        ) from None
    except stripe.RateLimitError as exc:
        raise _unavailable(exc, "rate-limited") from None
    except stripe.APIConnectionError as exc:
        timed_out = isinstance(exc.__cause__, requests.Timeout)
        raise _unavailable(exc, "timeout" if timed_out else "connection") from None
    except stripe.APIError as exc:
        raise _unavailable(exc, "error") from None
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing" and exc.param in ("customer", "customer_account"):
            logger.warning("Mapped Stripe customer does not exist at Stripe")
            raise NoBillingAccount("The billing account on file no longer exists.") from None
        # Our request or our Stripe account's setup (no portal configuration, flow not enabled).
        logger.error("Stripe refused the request: check the Stripe setup", extra=_described(exc))
        raise ServerMisconfigured("The payment provider refused this server's request.") from None


def _unavailable(exc: stripe.StripeError, reason: str) -> UpstreamUnavailable:
    logger.warning("Stripe unavailable", extra={**_described(exc), "upstream_reason": reason})
    return UpstreamUnavailable(
        "The payment provider is not answering; try again shortly.",
        retry_after=_retry_after(exc),
        upstream="stripe",
        reason=reason,
    )


def _retry_after(exc: stripe.StripeError) -> int:
    """Stripe's Retry-After (seconds), bounded; our default when it gave none."""
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
    try:
        seconds = math.ceil(float(headers["retry-after"]))
    except (KeyError, ValueError, OverflowError):
        return UpstreamUnavailable.DEFAULT_RETRY_AFTER
    return max(RETRY_AFTER_MIN, min(seconds, RETRY_AFTER_MAX))


_EMAIL = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")
_KEY = re.compile(r"\b[sr]k_(?:live|test)_\S*")


def _described(exc: stripe.StripeError) -> dict[str, Any]:
    error = exc.error
    message = str(getattr(error, "message", None) or "")
    return {
        "stripe_error": type(exc).__name__,
        "stripe_status": exc.http_status,
        "stripe_type": getattr(error, "type", None),
        "stripe_code": exc.code,
        "stripe_param": getattr(error, "param", None),
        "stripe_request_id": exc.request_id,
        "stripe_message": _KEY.sub("[key]", _EMAIL.sub("[email]", message)) or None,
    }
