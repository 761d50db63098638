"""The use case: a signed-in user and their request in, a customer-portal session URL out."""

from __future__ import annotations

from typing import Any

from auth import User
from aws_lambda_powertools import Logger
from customers import DYNAMODB_WORST_CASE_MS, Customer, CustomerTable
from errors import NoBillingAccount
from flows import SUBSCRIPTION_FLOWS, Subscription, flow_data, the_live_subscription
from params import PortalRequest
from settings import Settings
from stripe_api import StripeApi

logger = Logger(child=True)

# A new customer is followed by the mapping write and the session; their time is kept back from
# the creation call, so a slow Stripe ends in our 503 instead of the function's timeout. (A
# customer created by an attempt that then answers 503 is reused on the next click, through the
# idempotency key.)
AFTER_CUSTOMER_CREATED_MS = DYNAMODB_WORST_CASE_MS + 2_000


class Portal:
    def __init__(self, settings: Settings, customers: CustomerTable, stripe: StripeApi) -> None:
        self._settings = settings
        self._customers = customers
        self._stripe = stripe

    def session_url(self, user: User, request: PortalRequest) -> str:
        customer = self._customers.find(user.key)
        if customer is None:
            customer = self._create_customer(user)
        subscription = self.subscription(customer, request)
        return self._stripe.create_portal_session(
            self.session_params(customer, request, subscription)
        )

    def _create_customer(self, user: User) -> Customer:
        """The user's first click: a Stripe customer, and the mapping to it (one, even in races)."""
        if not self._settings.create_missing_customers:
            raise NoBillingAccount("This account has no billing account yet.")
        created = self._stripe.create_customer(
            user.key, user.claims, reserve_ms=AFTER_CUSTOMER_CREATED_MS
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
        if request.flow not in SUBSCRIPTION_FLOWS:
            return None
        if request.subscription is not None:
            return self._stripe.customer_subscription(customer, request.subscription)
        return the_live_subscription(*self._stripe.list_subscriptions(customer))

    def session_params(
        self,
        customer: Customer,
        request: PortalRequest,
        subscription: Subscription | None = None,
    ) -> dict[str, Any]:
        """Stripe's parameters: customer and setup from our side, the rest from the caller."""
        return_url = request.return_url or self._settings.default_return_url
        params: dict[str, Any] = {customer.param: customer.id, "return_url": return_url}
        configuration = customer.configuration or self._settings.portal_configuration_id
        if configuration:
            params["configuration"] = configuration
        if customer.on_behalf_of:
            params["on_behalf_of"] = customer.on_behalf_of
        if request.locale:
            params["locale"] = request.locale
        if request.flow:
            params["flow_data"] = flow_data(
                request,
                subscription,
                return_url=return_url,
                retention_coupon=self._settings.retention_coupon_id,
            )
        return params
