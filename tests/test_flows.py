"""Deep links through the real handler: each events/flow-*.json's exact flow_data at Stripe, the
subscription looked up on the customer's own account only, and what settings and the table item
add to the session. The parameters' rules are tests/unit/test_request.py's, flow_data's
tests/unit/test_flow_data.py's, which subscription tests/unit/test_subscription.py's."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

import pytest

from billing_portal.domain.request import Flow
from testing.events import event
from testing.fake_stripe import FLOW_TYPES, FakeStripe
from testing.handler import Invoke, build_handler, problem
from testing.harness import DEMO_USER, LambdaContext, table_definition

SESSIONS = "/v1/billing_portal/sessions"


def sent_params(fake: FakeStripe) -> dict[str, Any]:
    [call] = fake.calls("POST", SESSIONS)
    return call.params


def item_ids(fake: FakeStripe, sub: str) -> list[str]:
    return [item["id"] for item in fake.subscriptions[sub]["items"]["data"]]


def put_item(dynamodb: Any, customer_id: str, **attributes: str) -> None:
    key = table_definition()["KeySchema"][0]["AttributeName"]
    item = {key: DEMO_USER, "stripe_customer_id": customer_id, **attributes}
    dynamodb.put_item(
        TableName="billing-portal-customers", Item={k: {"S": v} for k, v in item.items()}
    )


def get(invoke: Invoke, **params: str) -> dict[str, Any]:
    return invoke("home", query=urlencode(params))


# --- every flow, exactly as Stripe receives it ---------------------------------------------


def expected_flow_data(flow: str, sub: str, item: str) -> dict[str, Any]:
    """What events/flow-<flow>.json must make Stripe receive (the events' own parameters)."""
    return {
        "customer_update": {"type": "customer_update"},
        "payment_method_update": {"type": "payment_method_update"},
        "subscription_cancel": {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": sub},
            "after_completion": {
                "type": "redirect",
                "redirect": {"return_url": "https://app.example.com/goodbye"},
            },
        },
        "subscription_pause": {
            "type": "subscription_pause",
            "subscription_pause": {"subscription": sub},
        },
        "subscription_update": {
            "type": "subscription_update",
            "subscription_update": {"subscription": sub},
            "after_completion": {"type": "portal_homepage"},
        },
        "subscription_update_confirm": {
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": sub,
                "items": [{"id": item, "price": "price_premium", "quantity": "2"}],
            },
            "after_completion": {"type": "hosted_confirmation"},
        },
    }[flow]


def test_every_flow_type_the_sdk_knows_is_accepted() -> None:
    # FLOW_TYPES is checked against the pinned SDK's SessionCreateParams in test_fake_stripe.py.
    assert sorted(get_args(Flow)) == sorted(FLOW_TYPES)


@pytest.mark.parametrize("flow", FLOW_TYPES)
def test_each_flow_event_sends_exactly_its_flow_data(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, flow: str
) -> None:
    sub = fake_stripe.add_subscription(customer=customer)

    response = invoke(f"flow-{flow}")

    assert response["statusCode"] == 303
    params = sent_params(fake_stripe)
    assert params["customer"] == customer
    assert params["flow_data"] == expected_flow_data(flow, sub, item_ids(fake_stripe, sub)[0])
    session = fake_stripe.sessions[next(iter(fake_stripe.sessions))]
    assert response["headers"]["Location"] == session["url"]
    # Only subscription flows look the subscription up, with one list call.
    lookups = fake_stripe.calls("GET", "/v1/subscriptions")
    assert len(lookups) == (1 if flow.startswith("subscription_") else 0)


def test_accounts_v2_customers_are_listed_and_sent_by_customer_account(
    invoke: Invoke, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    account = fake_stripe.add_account()
    put_item(dynamodb, account)
    sub = fake_stripe.add_subscription(customer_account=account)

    response = get(invoke, flow="subscription_cancel")

    assert response["statusCode"] == 303
    [listing] = fake_stripe.calls("GET", "/v1/subscriptions")
    assert listing.params == {"customer_account": account, "limit": "100"}
    params = sent_params(fake_stripe)
    assert params["customer_account"] == account
    assert params["flow_data"]["subscription_cancel"] == {"subscription": sub}


# --- which subscription ---------------------------------------------------------------------


def test_no_live_subscription_is_a_404_and_no_session(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="canceled")
    fake_stripe.add_subscription(customer=customer, status="unpaid")

    response = get(invoke, flow="subscription_cancel")

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("/no-such-subscription")
    assert fake_stripe.calls("POST", SESSIONS) == []


def test_more_subscriptions_than_one_page_asks_for_subscription_rather_than_guessing(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="active")  # oldest: listed last
    for _ in range(100):
        fake_stripe.add_subscription(customer=customer, status="incomplete")

    response = get(invoke, flow="subscription_cancel")

    assert response["statusCode"] == 400
    assert [e["parameter"] for e in problem(response)["errors"]] == ["subscription"]
    assert len(fake_stripe.calls("GET", "/v1/subscriptions")) == 1
    assert fake_stripe.calls("POST", SESSIONS) == []


def test_a_given_subscription_of_this_customer_is_used_without_listing(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer)
    chosen = fake_stripe.add_subscription(customer=customer, status="past_due")

    response = get(invoke, flow="subscription_pause", subscription=chosen)

    assert response["statusCode"] == 303
    assert [c.path for c in fake_stripe.calls("GET")] == [f"/v1/subscriptions/{chosen}"]
    assert sent_params(fake_stripe)["flow_data"]["subscription_pause"] == {"subscription": chosen}


def test_another_customers_subscription_is_answered_exactly_like_a_missing_one(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    other = fake_stripe.add_customer(email="other@example.com")
    theirs = fake_stripe.add_subscription(customer=other)
    missing = "sub_" + "x" * len(theirs.removeprefix("sub_"))

    foreign = get(invoke, flow="subscription_cancel", subscription=theirs)
    absent = get(invoke, flow="subscription_cancel", subscription=missing)

    assert foreign["statusCode"] == absent["statusCode"] == 404
    assert foreign["headers"] == absent["headers"]
    assert foreign["body"] == absent["body"]
    assert problem(foreign)["type"].endswith("/no-such-subscription")
    assert fake_stripe.calls("POST", SESSIONS) == []


# --- settings and the table item, never the caller ------------------------------------------


def test_the_retention_coupon_is_offered_in_the_cancel_flow_only(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("RETENTION_COUPON_ID", "stay20")
    customer = fake_stripe.add_customer()
    put_item(dynamodb, customer)
    sub = fake_stripe.add_subscription(customer=customer)
    handler = build_handler()

    cancel = handler(event("home", query="flow=subscription_cancel"), LambdaContext())
    update = handler(event("home", query="flow=subscription_update"), LambdaContext())

    assert cancel["statusCode"] == update["statusCode"] == 303
    cancel_call, update_call = fake_stripe.calls("POST", SESSIONS)
    assert cancel_call.params["flow_data"]["subscription_cancel"] == {
        "subscription": sub,
        "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "stay20"}},
    }
    assert update_call.params["flow_data"]["subscription_update"] == {"subscription": sub}


def test_the_items_configuration_and_on_behalf_of_win_over_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    # Which of settings and item wins is tests/unit/test_portal.py; here, that the table's
    # attributes are read and reach Stripe.
    default, gold = (
        fake_stripe.add_configuration({"payment_method_update": {"enabled": True}})
        for _ in range(2)
    )
    monkeypatch.setenv("PORTAL_CONFIGURATION_ID", default)
    customer = fake_stripe.add_customer()
    put_item(dynamodb, customer, portal_configuration=gold, on_behalf_of="acct_seller")
    handler = build_handler()

    response = handler(event("home", query="flow=payment_method_update"), LambdaContext())

    assert response["statusCode"] == 303
    params = sent_params(fake_stripe)
    assert (params["configuration"], params["on_behalf_of"]) == (gold, "acct_seller")


# --- session options: settings, never the caller ------------------------------------------


def test_with_after_expiration_login_an_expired_session_asks_the_customer_to_sign_in(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("AFTER_EXPIRATION_LOGIN", "true")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe)["after_expiration"] == {"type": "customer_login"}
    [session] = fake_stripe.sessions.values()
    assert session["after_expiration"] == {"customer_login": None, "type": "customer_login"}


def test_without_the_setting_no_after_expiration_is_sent(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    invoke("home")

    assert "after_expiration" not in sent_params(fake_stripe)


def test_the_hosted_confirmation_shows_the_configured_message(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("HOSTED_CONFIRMATION_MESSAGE", "Thanks! Your card is updated.")
    query = "flow=payment_method_update&after_completion=hosted_confirmation"

    response = build_handler()(event("home", query=query), LambdaContext())

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe)["flow_data"]["after_completion"] == {
        "type": "hosted_confirmation",
        "hosted_confirmation": {"custom_message": "Thanks! Your card is updated."},
    }


def test_the_promotion_code_is_applied_to_a_confirmed_update(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe
) -> None:
    code = fake_stripe.add_promotion_code()
    monkeypatch.setenv("UPDATE_PROMOTION_CODE", code)
    sub = fake_stripe.add_subscription(customer=customer)
    handler = build_handler()

    confirm = handler(
        event("home", query="flow=subscription_update_confirm&price=price_pro"), LambdaContext()
    )
    cancel = handler(event("home", query="flow=subscription_cancel"), LambdaContext())

    assert confirm["statusCode"] == cancel["statusCode"] == 303
    confirm_call, cancel_call = fake_stripe.calls("POST", SESSIONS)
    assert confirm_call.params["flow_data"]["subscription_update_confirm"] == {
        "subscription": sub,
        "items": [{"id": item_ids(fake_stripe, sub)[0], "price": "price_pro"}],
        "discounts": [{"promotion_code": code}],
    }
    assert cancel_call.params["flow_data"]["subscription_cancel"] == {"subscription": sub}


def test_a_promotion_code_stripe_does_not_know_is_the_operators_500_not_the_callers(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("UPDATE_PROMOTION_CODE", "promo_Expired1")
    fake_stripe.add_subscription(customer=customer)

    response = build_handler()(
        event("home", query="flow=subscription_update_confirm&quantity=2"), LambdaContext()
    )

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")


# --- PORTAL_FLOWS: the flows this deployment offers -------------------------------------------


@pytest.mark.parametrize("flow", ["subscription_cancel", "customer_update"])
def test_a_flow_not_offered_is_a_409_before_any_call(
    monkeypatch: pytest.MonkeyPatch,
    customer: str,
    fake_stripe: FakeStripe,
    dynamodb_calls: list[str],
    flow: str,
) -> None:
    monkeypatch.setenv("PORTAL_FLOWS", "payment_method_update,subscription_update")

    response = build_handler()(event("home", query=f"flow={flow}"), LambdaContext())

    body = problem(response)
    assert response["statusCode"] == 409
    assert body["type"].endswith("/flow-unavailable")
    assert flow in body["detail"]
    assert fake_stripe.calls() == []
    assert dynamodb_calls == []


@pytest.mark.parametrize("query", ["", "flow=payment_method_update"])
def test_a_plain_click_and_an_offered_flow_open_the_portal(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe, query: str
) -> None:
    monkeypatch.setenv("PORTAL_FLOWS", "payment_method_update")

    response = build_handler()(event("home", query=query), LambdaContext())

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe).get("flow_data", {}).get("type") == (query[5:] or None)


def test_an_unknown_flow_in_portal_flows_is_a_500_for_every_request(
    monkeypatch: pytest.MonkeyPatch, customer: str, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("PORTAL_FLOWS", "payment_method_update,subscription_cancle")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")
    assert fake_stripe.calls() == []
