"""The use case: a signed-in user and their request in, a customer-portal session URL out."""

from __future__ import annotations

from typing import Any

from auth import User
from customers import Customer, CustomerTable
from errors import NoBillingAccount
from params import PortalRequest
from settings import Settings
from stripe_api import StripeApi


class Portal:
    def __init__(self, settings: Settings, customers: CustomerTable, stripe: StripeApi) -> None:
        self._settings = settings
        self._customers = customers
        self._stripe = stripe

    def session_url(self, user: User, request: PortalRequest) -> str:
        customer = self._customers.find(user.key)
        if customer is None:
            raise NoBillingAccount("This account has no billing account yet.")
        return self._stripe.create_portal_session(self.session_params(customer, request))

    def session_params(self, customer: Customer, request: PortalRequest) -> dict[str, Any]:
        """Stripe's parameters: customer and setup from our side, the rest from the caller."""
        params: dict[str, Any] = {
            customer.param: customer.id,
            "return_url": request.return_url or self._settings.default_return_url,
        }
        configuration = customer.configuration or self._settings.portal_configuration_id
        if configuration:
            params["configuration"] = configuration
        if customer.on_behalf_of:
            params["on_behalf_of"] = customer.on_behalf_of
        if request.locale:
            params["locale"] = request.locale
        return params
