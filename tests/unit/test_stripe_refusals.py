"""Whose problem a Stripe refusal of a portal session is, by the `param` Stripe names."""

from __future__ import annotations

import pytest
import stripe

from billing_portal.adapters.stripe_errors import session_refusal
from billing_portal.errors import FlowUnavailable, InvalidParameter, NoSuchSubscription

CONFIRM = "flow_data[subscription_update_confirm]"


def refused(param: str, code: str | None = None) -> stripe.InvalidRequestError:
    return stripe.InvalidRequestError("refused", param, code=code, http_status=400)


@pytest.mark.parametrize(
    ("param", "parameter"),
    [
        ("return_url", "return_url"),
        ("locale", "locale"),
        ("flow_data[after_completion][redirect][return_url]", "after_completion_url"),
        ("flow_data[after_completion][type]", "after_completion"),
        (f"{CONFIRM}[items][0][price]", "price"),
        (f"{CONFIRM}[items][0][quantity]", "quantity"),
    ],
)
def test_a_value_the_caller_chose_is_a_400_naming_their_parameter(
    param: str, parameter: str
) -> None:
    problem = session_refusal(refused(param), "subscription_update_confirm")

    assert isinstance(problem, InvalidParameter)
    assert problem.errors == [
        {"parameter": parameter, "detail": "was refused by the payment provider"}
    ]


@pytest.mark.parametrize(
    "param",
    [
        "flow_data[type]",
        "flow_data[subscription_cancel][subscription]",
        f"{CONFIRM}[items]",
        f"{CONFIRM}[items][0][id]",
    ],
)
def test_the_flow_or_its_subscription_refused_is_a_409_for_that_flow(param: str) -> None:
    problem = session_refusal(refused(param), "subscription_cancel")

    assert isinstance(problem, FlowUnavailable)
    assert problem.flow == "subscription_cancel"


def test_a_subscription_gone_at_stripe_is_no_such_subscription() -> None:
    param = "flow_data[subscription_cancel][subscription]"

    problem = session_refusal(refused(param, "resource_missing"), "subscription_cancel")

    assert isinstance(problem, NoSuchSubscription)


@pytest.mark.parametrize(
    "param",
    [
        "configuration",  # PORTAL_CONFIGURATION_ID or the item's
        "on_behalf_of",
        "flow_data[subscription_cancel][retention][coupon_offer][coupon]",  # RETENTION_COUPON_ID
        f"{CONFIRM}[discounts][0][promotion_code]",  # a setting too
        "",  # no param: the account's setup (no configuration saved in this mode...)
    ],
)
def test_what_we_chose_is_left_to_the_misconfiguration_500(param: str) -> None:
    assert session_refusal(refused(param), "subscription_cancel") is None


def test_without_a_flow_nothing_under_flow_data_can_be_refused() -> None:
    assert session_refusal(refused("flow_data[type]"), None) is None
