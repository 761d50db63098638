"""The use case with in-memory stand-ins for the customers table and Stripe: what the session is
made of, and where each part comes from."""

from __future__ import annotations

from typing import Any

import pytest

from billing_portal.domain.customer import Customer
from billing_portal.domain.flows import ServerChoices
from billing_portal.domain.request import PortalRequest, portal_request
from billing_portal.domain.subscription import Subscription
from billing_portal.domain.user import User
from billing_portal.portal import Portal, PortalSettings

DEFAULT_RETURN = "https://app.example.com/account"
SUB = Subscription("sub_1", "active", ("si_1",), owner="cus_table")


class TableOf:
    """Customers: user key -> Customer."""

    def __init__(self, **customers: Customer) -> None:
        self.customers = customers

    def find(self, user_key: str) -> Customer | None:
        return self.customers.get(user_key)

    def link(self, user_key: str, customer_id: str) -> Customer:
        return self.customers.setdefault(user_key, Customer(customer_id))

    def replace(self, user_key: str, old_id: str, new_id: str) -> Customer:
        self.customers[user_key] = Customer(new_id)
        return self.customers[user_key]


class Stripe:
    """Billing: records each session's parameters; the customer's subscriptions are SUB only."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []

    def create_portal_session(self, params: dict[str, Any]) -> str:
        self.sessions.append(params)
        return "https://billing.stripe.test/session"

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]:
        return [SUB], True

    def find_subscription(self, customer: Customer, subscription_id: str) -> Subscription | None:
        return SUB if subscription_id == SUB.id else None

    def create_customer(
        self, user_key: str, reserve_ms: int = 0, replaces: str | None = None
    ) -> str:
        return "cus_new"

    def set_profile(self, customer_id: str, fields: dict[str, str], reserve_ms: int = 0) -> None:
        pass

    def customer_status(self, customer_id: str) -> str:
        return "alive"


def portal(customers: TableOf | None = None, **settings: Any) -> tuple[Portal, Stripe]:
    stripe = Stripe()
    config = PortalSettings(default_return_url=DEFAULT_RETURN, **settings)
    return Portal(config, customers or TableOf(), stripe), stripe


def request(**raw: str) -> PortalRequest:
    return portal_request(raw, frozenset({"https://app.example.com"}))


@pytest.mark.parametrize(
    ("customer", "settings", "sent"),
    [
        (Customer("cus_1"), {}, {"customer": "cus_1"}),
        (Customer("acct_1"), {}, {"customer_account": "acct_1"}),
        (
            Customer("cus_1"),
            {"configuration": "bpc_default"},
            {"customer": "cus_1", "configuration": "bpc_default"},
        ),
        (
            Customer("cus_1", configuration="bpc_gold"),
            {"configuration": "bpc_default"},
            {"customer": "cus_1", "configuration": "bpc_gold"},
        ),
        (
            Customer("acct_1", on_behalf_of="acct_seller"),
            {},
            {"customer_account": "acct_1", "on_behalf_of": "acct_seller"},
        ),
    ],
)
def test_customer_configuration_and_on_behalf_of_come_from_the_item_and_settings(
    customer: Customer, settings: dict[str, str], sent: dict[str, str]
) -> None:
    app, _ = portal(**settings)

    params = app.session_params(customer, request())

    assert params == {**sent, "return_url": DEFAULT_RETURN}


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ({"locale": "fr-CA"}, {"locale": "fr-CA", "return_url": DEFAULT_RETURN}),
        ({"return_url": "https://app.example.com/x"}, {"return_url": "https://app.example.com/x"}),
    ],
)
def test_locale_and_return_url_come_from_the_caller(
    raw: dict[str, str], sent: dict[str, str]
) -> None:
    app, _ = portal()

    assert app.session_params(Customer("cus_1"), request(**raw)) == {"customer": "cus_1", **sent}


def test_a_flow_redirects_to_the_default_return_url_and_offers_the_configured_coupon() -> None:
    app, _ = portal(ours=ServerChoices(retention_coupon="stay20"))
    cancel = request(flow="subscription_cancel", after_completion="redirect")

    flow = app.session_params(Customer("cus_table"), cancel, SUB)["flow_data"]

    assert flow["after_completion"]["redirect"] == {"return_url": DEFAULT_RETURN}
    assert flow["subscription_cancel"]["retention"]["coupon_offer"] == {"coupon": "stay20"}


def test_the_session_is_for_the_customer_the_table_maps_the_user_to() -> None:
    app, stripe = portal(TableOf(**{"user-1": Customer("cus_table")}))

    url = app.session_url(User("user-1", {"sub": "user-1"}), request(flow="subscription_pause"))

    assert url == "https://billing.stripe.test/session"
    [params] = stripe.sessions
    assert params["customer"] == "cus_table"
    assert params["flow_data"]["subscription_pause"] == {"subscription": "sub_1"}


def test_a_first_click_links_the_new_customer_when_allowed() -> None:
    table = TableOf()
    app, stripe = portal(table, create_missing_customers=True)

    app.session_url(User("user-1", {}), request())

    assert table.customers == {"user-1": Customer("cus_new")}
    assert stripe.sessions[0]["customer"] == "cus_new"
