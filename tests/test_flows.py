"""Deep links: each flow's exact flow_data at Stripe, on the customer's own subscription only."""

from __future__ import annotations

import json
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


def assert_400_without_stripe(response: dict[str, Any], fake: FakeStripe, parameter: str) -> None:
    assert response["statusCode"] == 400
    assert [e["parameter"] for e in problem(response)["errors"]] == [parameter]
    assert fake.calls() == []


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


def test_the_one_live_subscription_is_chosen_among_ended_ones(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="incomplete_expired")
    trialing = fake_stripe.add_subscription(customer=customer, status="trialing")
    fake_stripe.add_subscription(customer=customer, status="incomplete")

    response = get(invoke, flow="subscription_update")

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe)["flow_data"]["subscription_update"] == {
        "subscription": trialing
    }


def test_no_live_subscription_is_a_404_and_no_session(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="canceled")
    fake_stripe.add_subscription(customer=customer, status="unpaid")

    response = get(invoke, flow="subscription_cancel")

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("/no-such-subscription")
    assert fake_stripe.calls("POST", SESSIONS) == []


def test_several_live_subscriptions_is_a_400_asking_for_subscription(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, status="active")
    fake_stripe.add_subscription(customer=customer, status="past_due")

    response = get(invoke, flow="subscription_cancel")

    assert response["statusCode"] == 400
    [error] = problem(response)["errors"]
    assert error["parameter"] == "subscription"
    assert "several" in error["detail"]
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


def test_a_canceled_subscription_is_answered_like_a_missing_one(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    sub = fake_stripe.add_subscription(customer=customer, status="canceled")

    response = get(invoke, flow="subscription_update", subscription=sub)

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("/no-such-subscription")
    assert fake_stripe.calls("POST", SESSIONS) == []


@pytest.mark.parametrize(
    "value", ["sub_", "sub_abc-def", "sub_abc/../../v1/customers", "cus_123", "SUB_abc", "sub_ä"]
)
def test_a_malformed_subscription_is_a_400_before_any_stripe_call(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, value: str
) -> None:
    response = get(invoke, flow="subscription_cancel", subscription=value)

    assert_400_without_stripe(response, fake_stripe, "subscription")


# --- subscription_update_confirm --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "item_change"),
    [
        ({"price": "price_pro"}, {"price": "price_pro"}),
        ({"quantity": "7"}, {"quantity": "7"}),
        ({"price": "price_pro", "quantity": "10000"}, {"price": "price_pro", "quantity": "10000"}),
    ],
)
def test_update_confirm_changes_the_single_item_it_looked_up(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    change: dict[str, str],
    item_change: dict[str, str],
) -> None:
    sub = fake_stripe.add_subscription(customer=customer, items=[("price_basic", 3)])
    [item] = item_ids(fake_stripe, sub)

    response = get(invoke, flow="subscription_update_confirm", **change)

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe)["flow_data"]["subscription_update_confirm"] == {
        "subscription": sub,
        "items": [{"id": item, **item_change}],
    }


def test_update_confirm_takes_quantity_as_a_json_number(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    sub = fake_stripe.add_subscription(customer=customer)
    body = {"flow": "subscription_update_confirm", "subscription": sub, "quantity": 4}

    response = invoke(
        "form-post", headers={"content-type": "application/json"}, body=json.dumps(body)
    )

    assert response["statusCode"] == 303
    items = sent_params(fake_stripe)["flow_data"]["subscription_update_confirm"]["items"]
    assert items == [{"id": item_ids(fake_stripe, sub)[0], "quantity": "4"}]


def test_update_confirm_on_a_multi_item_subscription_is_a_clear_400(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer, items=[("price_basic", 1), ("price_addon", 2)])

    response = get(invoke, flow="subscription_update_confirm", price="price_pro")

    assert response["statusCode"] == 400
    [error] = problem(response)["errors"]
    assert error["parameter"] == "subscription"
    assert "exactly one item" in error["detail"]
    assert fake_stripe.calls("POST", SESSIONS) == []


def test_update_confirm_without_price_or_quantity_is_a_400(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.add_subscription(customer=customer)

    response = get(invoke, flow="subscription_update_confirm")

    assert_400_without_stripe(response, fake_stripe, "price")


@pytest.mark.parametrize("quantity", ["3.5", "0", "abc", "10001", "-1", " 3", "", "1e3"])
def test_a_bad_form_quantity_is_a_400(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, quantity: str
) -> None:
    response = get(invoke, flow="subscription_update_confirm", quantity=quantity)

    assert_400_without_stripe(response, fake_stripe, "quantity")


@pytest.mark.parametrize("quantity", [True, 3.5, 3.0, "3.0", [3], {"n": 3}])
def test_a_bad_json_quantity_is_a_400(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, quantity: object
) -> None:
    body = {"flow": "subscription_update_confirm", "quantity": quantity}

    response = invoke(
        "form-post", headers={"content-type": "application/json"}, body=json.dumps(body)
    )

    assert_400_without_stripe(response, fake_stripe, "quantity")


@pytest.mark.parametrize("price", ["price_", "prod_123", "price_abc def", "plan_basic"])
def test_a_malformed_price_is_a_400(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, price: str
) -> None:
    response = get(invoke, flow="subscription_update_confirm", price=price)

    assert_400_without_stripe(response, fake_stripe, "price")


# --- parameters only meaningful together -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"after_completion": "portal_homepage"}, "after_completion"),
        (
            {"flow": "payment_method_update", "after_completion_url": "https://app.example.com/"},
            "after_completion_url",
        ),
        (
            {
                "flow": "payment_method_update",
                "after_completion": "hosted_confirmation",
                "after_completion_url": "https://app.example.com/",
            },
            "after_completion_url",
        ),
        ({"subscription": "sub_123"}, "subscription"),
        ({"flow": "payment_method_update", "subscription": "sub_123"}, "subscription"),
        ({"flow": "subscription_update", "price": "price_pro"}, "price"),
        ({"flow": "subscription_cancel", "quantity": "2"}, "quantity"),
        ({"flow": "subscription_explode"}, "flow"),
        ({"flow": "payment_method_update", "after_completion": "elsewhere"}, "after_completion"),
    ],
)
def test_parameters_out_of_place_are_400s_naming_them(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    params: dict[str, str],
    parameter: str,
) -> None:
    response = get(invoke, **params)

    assert_400_without_stripe(response, fake_stripe, parameter)


# --- after completion ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "after_completion"),
    [
        ({"after_completion": "portal_homepage"}, {"type": "portal_homepage"}),
        ({"after_completion": "hosted_confirmation"}, {"type": "hosted_confirmation"}),
        (
            {"after_completion": "redirect"},
            {"type": "redirect", "redirect": {"return_url": "https://app.example.com/account"}},
        ),
        (
            {"after_completion": "redirect", "return_url": "http://localhost:3000/billing"},
            {"type": "redirect", "redirect": {"return_url": "http://localhost:3000/billing"}},
        ),
        (
            {
                "after_completion": "redirect",
                "after_completion_url": "https://app.example.com/thanks?card=updated",
            },
            {
                "type": "redirect",
                "redirect": {"return_url": "https://app.example.com/thanks?card=updated"},
            },
        ),
    ],
)
def test_after_completion_is_sent_as_asked(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    params: dict[str, str],
    after_completion: dict[str, Any],
) -> None:
    response = get(invoke, flow="payment_method_update", **params)

    assert response["statusCode"] == 303
    assert sent_params(fake_stripe)["flow_data"] == {
        "type": "payment_method_update",
        "after_completion": after_completion,
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://app.example.com@evil.example/",
        "//evil.example/",
        "javascript:alert(document.domain)",
        "https://evil.example\\@app.example.com/",
        "https://app.example.com./",
    ],
)
def test_a_hostile_after_completion_url_is_a_400_with_no_stripe_call(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, url: str
) -> None:
    response = get(
        invoke, flow="payment_method_update", after_completion="redirect", after_completion_url=url
    )

    assert_400_without_stripe(response, fake_stripe, "after_completion_url")


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


def test_without_a_retention_coupon_the_cancel_flow_offers_none(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    sub = fake_stripe.add_subscription(customer=customer)

    get(invoke, flow="subscription_cancel")

    assert sent_params(fake_stripe)["flow_data"]["subscription_cancel"] == {"subscription": sub}


@pytest.mark.parametrize(
    ("setting", "item", "sent"),
    [
        (None, {}, {}),
        ("default", {}, {"configuration": "default"}),
        (
            "default",
            {"portal_configuration": "gold", "on_behalf_of": "acct_seller"},
            {"configuration": "gold", "on_behalf_of": "acct_seller"},
        ),
        (None, {"on_behalf_of": "acct_seller"}, {"on_behalf_of": "acct_seller"}),
    ],
)
def test_configuration_and_on_behalf_of_come_from_settings_and_the_item(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    dynamodb: Any,
    fake_stripe: FakeStripe,
    setting: str | None,
    item: dict[str, str],
    sent: dict[str, str],
) -> None:
    # Two saved configurations, named here by role ("default", "gold").
    ids = {name: fake_stripe.add_configuration({"payment_method_update": {"enabled": True}})
           for name in ("default", "gold")}  # fmt: skip
    if setting:
        monkeypatch.setenv("PORTAL_CONFIGURATION_ID", ids[setting])
    customer = fake_stripe.add_customer()
    put_item(dynamodb, customer, **{k: ids.get(v, v) for k, v in item.items()})
    handler = build_handler()

    response = handler(event("home", query="flow=payment_method_update"), LambdaContext())

    assert response["statusCode"] == 303
    params = sent_params(fake_stripe)
    chosen = {k: params[k] for k in ("configuration", "on_behalf_of") if k in params}
    assert chosen == {k: ids.get(v, v) for k, v in sent.items()}


@pytest.mark.parametrize(
    "name",
    [
        "customer",
        "customer_account",
        "configuration",
        "on_behalf_of",
        "coupon",
        "promotion_code",
        "discounts",
        "retention",
        "flow_data",
    ],
)
def test_what_the_server_chooses_is_rejected_from_the_caller_and_never_sent(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, name: str
) -> None:
    fake_stripe.add_subscription(customer=customer)
    as_form = get(invoke, flow="subscription_cancel", **{name: "cus_attacker"})
    as_json = invoke(
        "form-post",
        headers={"content-type": "application/json"},
        body=json.dumps({"flow": "subscription_cancel", name: {"coupon": "FREE100"}}),
    )

    for response in (as_form, as_json):
        assert response["statusCode"] == 400
        assert problem(response)["errors"] == [
            {"parameter": name, "detail": "is set by the server, never by the caller"}
        ]
    assert fake_stripe.calls() == []


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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UPDATE_PROMOTION_CODE", "FREE100"),  # a code's text, not its promo_ id
        ("AFTER_EXPIRATION_LOGIN", "sometimes"),
        ("HOSTED_CONFIRMATION_MESSAGE", "x" * 501),
    ],
)
def test_a_bad_session_option_setting_fails_at_cold_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert any(name in r.getMessage() for r in caplog.records)
    assert fake_stripe.calls() == []
