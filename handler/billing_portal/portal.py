"""The use case: a signed-in user and their request in, a customer-portal session URL out.

It speaks to the customers table and to Stripe through the two small interfaces below; the
factory hands it the real adapters (adapters/), tests may hand it anything with these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from billing_portal.budget import AFTER_CUSTOMER_CREATED_MS, AFTER_PROFILE_MS
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
from billing_portal.errors import (
    CustomerNotFound,
    FlowUnavailable,
    NoBillingAccount,
    ServerMisconfigured,
    UpstreamUnavailable,
)
from billing_portal.observability import event

logger = Logger(child=True)


@dataclass(frozen=True)
class PortalSettings:
    """What the deployment decides for every session (the factory takes it from settings.py)."""

    default_return_url: str
    create_missing_customers: bool = False
    configuration: str | None = None  # a customer's own configuration wins
    after_expiration_login: bool = False
    ours: ServerChoices = field(default_factory=ServerChoices)
    flows: frozenset[str] | None = None  # the flows offered (PORTAL_FLOWS); None: all


class Customers(Protocol):
    """The customers table (adapters/customer_table.py)."""

    def find(self, user_key: str) -> Customer | None: ...

    def link(self, user_key: str, customer_id: str) -> Customer: ...

    def replace(self, user_key: str, old_id: str, new_id: str) -> Customer: ...


class Billing(Protocol):
    """Stripe (adapters/stripe_api.py)."""

    def create_portal_session(self, params: dict[str, Any]) -> str: ...

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]: ...

    def find_subscription(
        self, customer: Customer, subscription_id: str
    ) -> Subscription | None: ...

    def create_customer(
        self, user_key: str, reserve_ms: int = 0, replaces: str | None = None
    ) -> str: ...

    def set_profile(
        self, customer_id: str, fields: dict[str, str], reserve_ms: int = 0
    ) -> None: ...

    def customer_status(self, customer_id: str) -> str: ...


class Portal:
    def __init__(self, settings: PortalSettings, customers: Customers, billing: Billing) -> None:
        self._settings = settings
        self._customers = customers
        self._billing = billing

    def session_url(self, user: User, request: PortalRequest) -> str:
        offered = self._settings.flows
        if request.flow is not None and offered is not None and request.flow not in offered:
            # Before any call: the operator turned this flow off, whatever Stripe would say.
            raise FlowUnavailable(
                f"This billing portal does not offer {request.flow}.", flow=request.flow
            )
        customer = self._customers.find(user.key)
        if customer is None:
            customer = self._create_customer(user)
        try:
            return self._session_url(customer, request)
        except CustomerNotFound:
            if not customer.id.startswith("cus_"):
                raise  # an Accounts v2 account is not a customer to look up or replace
            customer = self._after_missing(user, customer)
        return self._session_url(customer, request)

    def _session_url(self, customer: Customer, request: PortalRequest) -> str:
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
        created = self._billing.create_customer(user.key, reserve_ms=AFTER_CUSTOMER_CREATED_MS)
        customer = self._customers.link(user.key, created)
        self._mapped(user, customer, created)
        return customer

    def _after_missing(self, user: User, customer: Customer) -> Customer:
        """Stripe said "No such customer" for the mapped one: ask it once what became of it.

        Deleted (in the Dashboard, by support): replaced as on a first click when this
        deployment creates customers, else the user's 404. No record at all: the table and the
        key belong to different Stripe accounts, or the item was mistyped; the operator's to fix,
        never replaced (a new customer would hide the real one). Alive after all: Stripe's
        replication raced us; the next click works.
        """
        status = self._billing.customer_status(customer.id)
        event("MissingCustomers", outcome=self._outcome(status))
        if status == "unknown":
            logger.error(
                "The mapped customer is not in this Stripe account",
                extra={"customer": customer.id},
            )
            raise ServerMisconfigured(
                "This server's payment provider account does not hold the billing account on file."
            )
        if status == "alive":
            logger.warning(
                "Stripe found the customer on a second look", extra={"customer": customer.id}
            )
            raise UpstreamUnavailable(
                "The payment provider is not answering consistently; try again shortly.",
                upstream="stripe",
                reason="customer-not-found-then-found",
            )
        if not self._settings.create_missing_customers:
            logger.warning(
                "The mapped customer was deleted at Stripe", extra={"customer": customer.id}
            )
            raise NoBillingAccount("The billing account on file no longer exists.")
        created = self._billing.create_customer(
            user.key, reserve_ms=AFTER_CUSTOMER_CREATED_MS, replaces=customer.id
        )
        replacement = self._customers.replace(user.key, customer.id, created)
        logger.info(
            "The deleted customer is replaced", extra={"customer": created, "deleted": customer.id}
        )
        self._mapped(user, replacement, created)
        return replacement

    def _outcome(self, status: str) -> str:
        if status == "deleted":
            return "replaced" if self._settings.create_missing_customers else "deleted"
        return {"unknown": "not-in-account"}.get(status, status)

    def _mapped(self, user: User, customer: Customer, created: str) -> None:
        """After the mapping write: the profile of the customer we made, if it is the mapped one."""
        if customer.id != created:
            # Another writer mapped this user first with a customer Stripe did not deduplicate
            # (the idempotency key had expired, or someone linked one by hand): ours stays unused.
            logger.warning(
                "Another customer was mapped first; the one just created is unused",
                extra={"unused_customer": created, "customer": customer.id},
            )
            return
        logger.info("The user's new Stripe customer is mapped", extra={"customer": created})
        fields = customer_fields(user.claims)
        if fields:
            self._billing.set_profile(created, fields, reserve_ms=AFTER_PROFILE_MS)

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
