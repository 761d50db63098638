"""Stripe: one connection pool per container, clients sized to the time left, the secret key,
and what Stripe's errors mean for callers."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
import stripe
import stripe_budget
from aws_lambda_powertools import Logger
from customers import Customer
from errors import NoBillingAccount, NoSuchSubscription, ServerMisconfigured, UpstreamUnavailable
from flows import ENDED_STATUSES, Subscription
from settings import Settings
from stripe_key import StripeKey

logger = Logger(child=True)
# The SDK's DEBUG lines carry request and response bodies (emails, session URLs); never let a
# debugging log level put them in the logs.
logging.getLogger("stripe").setLevel(logging.INFO)

# Outside a Lambda request (scripts, unit use) plan for the template's 10 s timeout.
DEFAULT_REMAINING_MS = 10_000
# Stripe's own Retry-After is honoured within these bounds (seconds).
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 60


class StripeApi:
    """Creates portal sessions; built once per container so its connection pool is reused."""

    def __init__(self, settings: Settings, remaining_ms: Callable[[], int] | None = None) -> None:
        self._settings = settings
        self._key = StripeKey(settings)
        # The Lambda's time left (context.get_remaining_time_in_millis), read at each call.
        self._remaining_ms = remaining_ms or (lambda: DEFAULT_REMAINING_MS)
        # One connection pool per container, shared by every client made below: a warm
        # invocation reuses the open TCP/TLS connection to Stripe instead of dialling again.
        self._session = requests.Session()

    def client(self, reserve_ms: int = 0) -> stripe.StripeClient:
        """A client whose retries and timeouts fit in the time left now.

        Call it right before each request and don't keep it: the SDK's timeout is fixed per
        HTTP client, so each call gets its own (cheap, ~75 us) client on the shared session.
        That also picks up a rotated key as soon as its cache expires. `reserve_ms` is kept back
        for what the request still has to do after this call.
        """
        api_key = self._key()  # first: on a cold start, reading it spends some of the budget
        plan = stripe_budget.plan(self._remaining_ms() - reserve_ms)
        if plan is None:
            logger.warning("No time left to call Stripe", extra={"upstream_reason": "no-time"})
            raise UpstreamUnavailable(
                "The payment provider did not answer in time; try again shortly.",
                upstream="stripe",
                reason="no-time",
            )
        base = {"api": self._settings.stripe_api_base} if self._settings.stripe_api_base else {}
        return stripe.StripeClient(
            api_key=api_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=plan.retries,
            http_client=stripe.RequestsClient(
                timeout=(plan.connect_timeout, plan.read_timeout), session=self._session
            ),
        )

    def create_portal_session(self, params: dict[str, Any]) -> str:
        """The new session's URL."""
        with stripe_errors():
            session = self.client().v1.billing_portal.sessions.create(
                params,  # type: ignore[arg-type]
            )
        return str(session.url)

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]:
        """The customer's not-canceled subscriptions (one call, up to 100) and whether that is
        all of them. Accounts v2 customers are listed by customer_account."""
        with stripe_errors():
            page = self.client().v1.subscriptions.list(
                {customer.param: customer.id, "limit": 100},  # type: ignore[arg-type]
            )
        return [Subscription.from_stripe(sub.to_dict()) for sub in page.data], not page.has_more

    def customer_subscription(self, customer: Customer, subscription_id: str) -> Subscription:
        """subscription_id when it is this customer's and not ended; another customer's is answered
        like a missing one, so ids cannot be probed. The id is checked (sub_...) before this."""
        with stripe_errors():
            try:
                found = self.client().v1.subscriptions.retrieve(subscription_id)
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                found = None
        data = found.to_dict() if found is not None else {}
        if data.get(customer.param) != customer.id or data["status"] in ENDED_STATUSES:
            raise NoSuchSubscription("This account has no such subscription.")
        return Subscription.from_stripe(data)

    def create_customer(self, user_key: str, claims: dict[str, Any], reserve_ms: int = 0) -> str:
        """A new Stripe customer for the user (email and name from the claims when present).

        The idempotency key is derived from the user key alone, so retries and concurrent first
        clicks of one user (same token, same parameters) get the same customer back from Stripe
        for as long as Stripe keeps the key (24 hours).
        """
        params: stripe.params.CustomerCreateParams = {"metadata": {"user_key": user_key}}
        email, name = claims.get("email"), claims.get("name")
        if isinstance(email, str) and email.strip():
            params["email"] = email.strip()
        if isinstance(name, str) and name.strip():
            params["name"] = name.strip()
        # The prefix keeps our keys apart from those of other code using the same Stripe account.
        idempotency_key = "billing-portal-customer-" + hashlib.sha256(user_key.encode()).hexdigest()
        try:
            with stripe_errors():
                customer = self.client(reserve_ms).v1.customers.create(
                    params,
                    {"idempotency_key": idempotency_key},
                )
        except stripe.IdempotencyError:
            # Same key, other parameters: an earlier attempt (whose mapping write failed) had
            # other claims. Stripe frees the key after 24 hours; until then creating would fail.
            logger.warning("Stripe refused to replay the customer creation with other claims")
            raise UpstreamUnavailable(
                "The billing account is still being set up; try again later.",
                retry_after=60,
                upstream="stripe",
                reason="idempotency",
            ) from None
        return str(customer.id)


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Turn the SDK's errors into problems; operators get the details in the log.

    Only what identifies the failure is logged (error class, HTTP status, Stripe's code, param
    and request id), never the key; Stripe's message only with emails and keys blanked out,
    since Stripe echoes parameter values in it.
    """
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
