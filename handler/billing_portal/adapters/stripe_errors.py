"""What Stripe's errors mean for callers; operators get the details in the log.

A refusal (a 400) is sorted by Stripe's `param`, the one thing that says whose value it was: one
the caller chose (return_url, locale, the price...) is the caller's 400 naming our parameter; the
subscription or the flow itself is a 409 (its state, or the portal configuration, rules it out);
anything we chose (customer, configuration, coupons) is ours: a 500 and the operator's alarm.

Only what identifies a failure is logged (error class, HTTP status, Stripe's code, param and
request id), never the key; Stripe's message only with names, emails, tokens and keys blanked
out, since Stripe echoes parameter values in it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import stripe
from aws_lambda_powertools import Logger

from billing_portal.errors import (
    CustomerNotFound,
    FlowUnavailable,
    InvalidParameter,
    NoSuchSubscription,
    Problem,
    ServerMisconfigured,
    UpstreamUnavailable,
)

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
        if exc.code == "resource_missing" and other_mode(exc):
            # Every user's customer is "missing": a live key with a test-mode table, or the
            # reverse. Not the users' fault, and it will not pass by itself.
            logger.error(
                "Stripe key and customers table are in different modes (live/test)",
                extra=_described(exc),
            )
            raise ServerMisconfigured(
                "This server's payment provider account does not match its billing records."
            ) from None
        if exc.code == "resource_missing" and exc.param in ("customer", "customer_account"):
            logger.warning("Mapped Stripe customer does not exist at Stripe")
            raise CustomerNotFound("The billing account on file no longer exists.") from None
        # Our request or our Stripe account's setup (no portal configuration in this mode, our
        # coupon or promotion code, a configuration id): the operator's to fix.
        logger.error("Stripe refused the request: check the Stripe setup", extra=_described(exc))
        raise ServerMisconfigured("The payment provider refused this server's request.") from None


# "No such customer: 'cus_..'; a similar object exists in live mode, but a test mode key was
# used to make this request." (or test mode and a live key)
_OTHER_MODE = re.compile(r"similar object exists in (?:live|test) mode")

# Stripe's name for a value the caller chose -> the caller's parameter (domain/flows.py builds
# flow_data from them), and what to tell them when Stripe refuses it (not a missing one).
# Coupons and promotion codes under flow_data are ours, not listed here.
_CONFIRM_ITEM = r"flow_data\[subscription_update_confirm\]\[items\]\[0\]"
_CALLERS = (
    (re.compile(r"return_url"), "return_url", "was refused by the payment provider"),
    (re.compile(r"locale"), "locale", "was refused by the payment provider"),
    (
        re.compile(r"flow_data\[after_completion\]\[redirect\]\[return_url\]"),
        "after_completion_url",
        "was refused by the payment provider",
    ),
    (
        re.compile(r"flow_data\[after_completion\](?:\[type\])?"),
        "after_completion",
        "was refused by the payment provider",
    ),
    (re.compile(_CONFIRM_ITEM + r"\[price\]"), "price", "is not a price this portal offers"),
    (re.compile(_CONFIRM_ITEM + r"\[quantity\]"), "quantity", "is not a quantity allowed here"),
)
# The flow itself, or the subscription or item it acts on: Stripe refuses the flow (the
# subscription's state, a plan the portal cannot change, a feature the configuration leaves
# off). A malformed flow_data would be our bug, so only these params count.
_FLOW = re.compile(
    r"flow_data\[(?:type|subscription_\w+\]\[(?:subscription|items(?:\]\[0\]\[id)?))\]"
)
_SUBSCRIPTION = re.compile(r"flow_data\[subscription_\w+\]\[subscription\]")


def other_mode(exc: stripe.InvalidRequestError) -> bool:
    """Stripe's "No such ..." says the object exists in the other mode (live/test)."""
    return _OTHER_MODE.search(_message(exc)) is not None


def session_refusal(exc: stripe.InvalidRequestError, flow: str | None) -> Problem | None:
    """What Stripe refusing a portal session means for the caller, when it is theirs to know;
    None when the refusal is about our own setup (stripe_errors() makes that a 500)."""
    param = exc.param or ""
    missing = exc.code == "resource_missing"
    for pattern, parameter, refused in _CALLERS:
        if pattern.fullmatch(param):
            logger.info("Stripe refused a parameter the caller chose", extra=_described(exc))
            return InvalidParameter.single(parameter, "does not exist" if missing else refused)
    if flow is not None and missing and _SUBSCRIPTION.fullmatch(param):
        logger.info("The subscription is gone at Stripe", extra=_described(exc))
        return NoSuchSubscription("This account has no such subscription.")
    if flow is not None and _FLOW.fullmatch(param):
        logger.info("Stripe refused the flow", extra={**_described(exc), "flow": flow})
        return FlowUnavailable(
            f"The billing portal cannot offer {flow} for this account now: the subscription's "
            "state or plan rules it out, or the portal does not enable it.",
            flow=flow,
        )
    return None


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


# What a Stripe message may echo of the values it refuses, blanked out before it is logged:
_EMAIL = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")
_KEY = re.compile(r"\b[sr]k_(?:live|test)_\S*")
# a JWT, a bearer token, or any long opaque string (a token in a return URL's query)
_TOKEN = re.compile(r"\beyJ[\w-]*\.[\w.-]*|(?i:bearer)\s+\S+|[\w~+/=-]{32,}")
# the value after "Invalid string: " (a name), up to the "; must be ..." that explains it
_ECHOED = re.compile(r"(\bInvalid [\w ]{1,40}: )[^;]+")
# a quoted value, unless it is a Stripe id (cus_...) or a parameter name (flow_data[type]); a
# quote inside a word is an apostrophe ("subscription's", "O'Brien")
_QUOTED = re.compile(r"(?<!\w)(['\"]).*?\1(?!\w)")
_KEEP_QUOTED = re.compile(r"[a-z]+_[A-Za-z0-9]+|[a-z_]+(?:\[[a-z_0-9]*\])*")


def _message(exc: stripe.StripeError) -> str:
    return str(getattr(exc.error, "message", None) or "")


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
        "stripe_message": _redacted(message) or None,
    }


def _redacted(message: str) -> str:
    """Stripe's message without the personal data or secrets it may quote (names, emails,
    tokens, keys), keeping its wording, ids and parameter names for the operator."""
    message = _KEY.sub("[key]", _EMAIL.sub("[email]", message))
    message = _TOKEN.sub("[token]", message)
    message = _ECHOED.sub(r"\1[value]", message)
    return _QUOTED.sub(_quoted, message)


def _quoted(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _KEEP_QUOTED.fullmatch(text[1:-1]) else f"{text[0]}[value]{text[0]}"


# The SDK's own INFO line for an error ("Stripe v1 API error received") quotes the message in
# logfmt: error_message='...' (or without quotes when it has no space).
_SDK_MESSAGE = re.compile(r"(error_message=)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S*)")


def _redact_sdk_line(record: logging.LogRecord) -> bool:
    """Stripe's message in the SDK's own log lines, redacted as ours before any handler sees it."""

    def redact(match: re.Match[str]) -> str:
        value = match.group(2)
        quote = value[:1] if value[:1] in ("'", '"') else ""
        inner = value[1:-1] if quote else value
        return f"{match.group(1)}{quote}{_redacted(inner)}{quote}"

    record.msg, record.args = _SDK_MESSAGE.sub(redact, record.getMessage()), None
    return True


logging.getLogger("stripe").addFilter(_redact_sdk_line)
