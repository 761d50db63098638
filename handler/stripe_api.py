"""Stripe: one client per container, the secret key, and what Stripe's errors mean for callers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from customers import Customer
from errors import NoBillingAccount, NoSuchSubscription, ServerMisconfigured, UpstreamUnavailable
from flows import ENDED_STATUSES, Subscription
from settings import Settings

logger = Logger(child=True)

KEY_CACHE_SECONDS = 300
SECRETS_MANAGER_PREFIXES = ("arn:aws:secretsmanager:", "secretsmanager:")


class StripeApi:
    """Creates portal sessions; built once per container so its connection pool is reused."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: stripe.StripeClient | None = None

    def api_key(self) -> str:
        """The secret key: STRIPE_API_KEY locally, else SSM or Secrets Manager, cached."""
        if self._settings.stripe_api_key is not None:
            return self._settings.stripe_api_key.get_secret_value()
        name = self._settings.stripe_api_key_param or ""
        try:
            if name.startswith(SECRETS_MANAGER_PREFIXES):
                secret_id = name.removeprefix("secretsmanager:")
                return str(parameters.get_secret(secret_id, max_age=KEY_CACHE_SECONDS))
            return str(parameters.get_parameter(name, decrypt=True, max_age=KEY_CACHE_SECONDS))
        except GetParameterError as exc:
            logger.error("Cannot read the Stripe key named by STRIPE_API_KEY_PARAM: %s", exc)
            raise ServerMisconfigured("The payment provider is not configured.") from None

    def client(self) -> stripe.StripeClient:
        if self._client is None:
            base = {"api": self._settings.stripe_api_base} if self._settings.stripe_api_base else {}
            self._client = stripe.StripeClient(
                api_key=self.api_key(),
                base_addresses=base,  # type: ignore[arg-type]
                max_network_retries=1,
                http_client=stripe.RequestsClient(timeout=(2, 4)),
            )
        return self._client

    def create_portal_session(self, params: dict[str, Any]) -> str:
        """The new session's URL."""
        # The key is passed per request so a rotated key is picked up when its cache expires.
        with stripe_errors():
            session = self.client().v1.billing_portal.sessions.create(
                params,  # type: ignore[arg-type]
                {"api_key": self.api_key()},
            )
        return str(session.url)

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]:
        """The customer's not-canceled subscriptions (one call, up to 100) and whether that is
        all of them. Accounts v2 customers are listed by customer_account."""
        with stripe_errors():
            page = self.client().v1.subscriptions.list(
                {customer.param: customer.id, "limit": 100},  # type: ignore[arg-type]
                {"api_key": self.api_key()},
            )
        return [Subscription.from_stripe(sub.to_dict()) for sub in page.data], not page.has_more

    def customer_subscription(self, customer: Customer, subscription_id: str) -> Subscription:
        """subscription_id when it is this customer's and not ended; another customer's is answered
        like a missing one, so ids cannot be probed. The id is checked (sub_...) before this."""
        with stripe_errors():
            try:
                found = self.client().v1.subscriptions.retrieve(
                    subscription_id, options={"api_key": self.api_key()}
                )
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                found = None
        data = found.to_dict() if found is not None else {}
        if data.get(customer.param) != customer.id or data["status"] in ENDED_STATUSES:
            raise NoSuchSubscription("This account has no such subscription.")
        return Subscription.from_stripe(data)

    def create_customer(self, user_key: str, claims: dict[str, Any]) -> str:
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
                customer = self.client().v1.customers.create(
                    params,
                    {"api_key": self.api_key(), "idempotency_key": idempotency_key},
                )
        except stripe.IdempotencyError:
            # Same key, other parameters: an earlier attempt (whose mapping write failed) had
            # other claims. Stripe frees the key after 24 hours; until then creating would fail.
            logger.warning("Stripe refused to replay the customer creation with other claims")
            raise UpstreamUnavailable(
                "The billing account is still being set up; try again later.", retry_after=60
            ) from None
        return str(customer.id)


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Turn the SDK's errors into problems; operators get the details in the log."""
    try:
        yield
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        logger.error("Stripe rejected our API key", extra={"stripe_error": type(exc).__name__})
        raise ServerMisconfigured(
            "The payment provider rejected this server's credentials."
        ) from None
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
        logger.warning("Stripe unavailable", extra={"stripe_error": type(exc).__name__})
        raise UpstreamUnavailable(
            "The payment provider is not answering; try again shortly."
        ) from None
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing" and exc.param in ("customer", "customer_account"):
            logger.warning("Mapped Stripe customer does not exist at Stripe")
            raise NoBillingAccount("The billing account on file no longer exists.") from None
        logger.error(
            "Stripe refused the portal session request",
            extra={
                "stripe_code": exc.code,
                "stripe_param": exc.param,
                "stripe_message": exc.user_message,
            },
        )
        raise ServerMisconfigured("The payment provider refused this server's request.") from None
