"""The use case: a signed-in user and their request in, a customer-portal session URL out.

It speaks to the customers table and to Stripe through the two small interfaces below; the
factory hands it the real adapters (adapters/), tests may hand it anything with these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from billing_portal.budget import AFTER_CUSTOMER_CREATED_MS
from billing_portal.domain.customer import Customer
from billing_portal.domain.flows import ServerChoices, flow_data
from billing_portal.domain.request import PortalRequest
from billing_portal.domain.subscription import (
    Subscription,
    check_flow_allowed,
    the_customers,
    the_live_subscription,
)
from billing_portal.domain.user import User, customer_fields
from billing_portal.errors import NoBillingAccount

logger = Logger(child=True)


@dataclass(frozen=True)
class PortalSettings:
    """What the deployment decides for every session (the factory takes it from settings.py)."""

    default_return_url: str
    create_missing_customers: bool = False
    configuration: str | None = None  # a customer's own configuration wins
    after_expiration_login: bool = False
    ours: ServerChoices = field(default_factory=ServerChoices)


class Customers(Protocol):
    """The customers table (adapters/customer_table.py)."""

    def find(self, user_key: str) -> Customer | None: ...

    def link(self, user_key: str, customer_id: str) -> Customer: ...


class Billing(Protocol):
    """Stripe (adapters/stripe_api.py)."""

    def create_portal_session(self, params: dict[str, Any]) -> str: ...

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]: ...

    def find_subscription(
        self, customer: Customer, subscription_id: str
    ) -> Subscription | None: ...

    def create_customer(
        self, user_key: str, fields: dict[str, str], reserve_ms: int = 0
    ) -> str: ...


class Portal:
    def __init__(self, settings: PortalSettings, customers: Customers, billing: Billing) -> None:
        self._settings = settings
        self._customers = customers
        self._billing = billing

    def session_url(self, user: User, request: PortalRequest) -> str:
        customer = self._customers.find(user.key)
        if customer is None:
            customer = self._create_customer(user)
        subscription = self.subscription(customer, request)
        return self._billing.create_portal_session(
            self.session_params(customer, request, subscription)
        )

    def _create_customer(self, user: User) -> Customer:
        """The user's first click: a Stripe customer, and the mapping to it (one, even in races).

        A customer created by an attempt that then answers 503 is reused on the next click,
        through the idempotency key.
        """
        if not self._settings.create_missing_customers:
            raise NoBillingAccount("This account has no billing account yet.")
        created = self._billing.create_customer(
            user.key, customer_fields(user.claims), reserve_ms=AFTER_CUSTOMER_CREATED_MS
        )
        customer = self._customers.link(user.key, created)
        if customer.id != created:
            # Another writer mapped this user first with a customer Stripe did not deduplicate
            # (the idempotency key had expired, or someone linked one by hand): ours stays unused.
            logger.warning(
                "Another customer was mapped first; the one just created is unused",
                extra={"unused_customer": created, "customer": customer.id},
            )
        else:
            logger.info("The user's new Stripe customer is mapped", extra={"customer": created})
        return customer

    def subscription(self, customer: Customer, request: PortalRequest) -> Subscription | None:
        """The customer's subscription a subscription flow acts on, checked before any session."""
        if not request.acts_on_subscription:
            return None
        if request.subscription is not None:
            found = self._billing.find_subscription(customer, request.subscription)
            subscription = the_customers(customer, found)
        else:
            subscription = the_live_subscription(*self._billing.list_subscriptions(customer))
        check_flow_allowed(str(request.flow), subscription)
        return subscription

    def session_params(
        self,
        customer: Customer,
        request: PortalRequest,
        subscription: Subscription | None = None,
    ) -> dict[str, Any]:
        """Stripe's parameters: customer and setup from our side, the rest from the caller."""
        return_url = request.return_url or self._settings.default_return_url
        params: dict[str, Any] = {customer.param: customer.id, "return_url": return_url}
        configuration = customer.configuration or self._settings.configuration
        if configuration:
            params["configuration"] = configuration
        if customer.on_behalf_of:
            params["on_behalf_of"] = customer.on_behalf_of
        if request.locale:
            params["locale"] = request.locale
        if self._settings.after_expiration_login:
            # An expired session link asks the customer to sign in by email (API 2026-10-28)
            # instead of showing a dead end.
            params["after_expiration"] = {"type": "customer_login"}
        if request.flow:
            params["flow_data"] = flow_data(
                request,
                subscription,
                return_url=return_url,
                ours=self._settings.ours,
            )
        return params
