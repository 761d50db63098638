"""Whose problem a Stripe refusal of a portal session is, by the `param` Stripe names."""

from __future__ import annotations

import pytest
import stripe

from billing_portal.adapters.stripe_errors import session_refusal
from billing_portal.errors import FlowUnavailable, InvalidParameter, NoSuchSubscription

CONFIRM = "flow_data[subscription_update_confirm]"


def refused(param: str, code: str | None = None) -> stripe.InvalidRequestError:
    return stripe.InvalidRequestError("refused", param, code=code, http_status=400)


REFUSED = "was refused by the payment provider"


@pytest.mark.parametrize(
    ("param", "parameter", "detail"),
    [
        ("return_url", "return_url", REFUSED),
        ("locale", "locale", REFUSED),
        ("flow_data[after_completion][redirect][return_url]", "after_completion_url", REFUSED),
        ("flow_data[after_completion][type]", "after_completion", REFUSED),
        (f"{CONFIRM}[items][0][price]", "price", "is not a price this portal offers"),
        (f"{CONFIRM}[items][0][quantity]", "quantity", "is not a quantity allowed here"),
    ],
)
def test_a_value_the_caller_chose_is_a_400_naming_their_parameter(
    param: str, parameter: str, detail: str
) -> None:
    problem = session_refusal(refused(param), "subscription_update_confirm")

    assert isinstance(problem, InvalidParameter)
    assert problem.errors == [{"parameter": parameter, "detail": detail}]


def test_a_value_that_does_not_exist_says_so() -> None:
    problem = session_refusal(
        refused(f"{CONFIRM}[items][0][price]", "resource_missing"), "subscription_update_confirm"
    )

    assert isinstance(problem, InvalidParameter)
    assert problem.errors == [{"parameter": "price", "detail": "does not exist"}]


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
        "flow_data",  # a malformed flow_data is our bug
        "flow_data[subscription_cancel]",
        "flow_data[subscription_cancel][retention][coupon_offer][coupon]",  # RETENTION_COUPON_ID
        f"{CONFIRM}[discounts][0][promotion_code]",  # a setting too
        "",  # no param: the account's setup (no configuration saved in this mode...)
    ],
)
def test_what_we_chose_is_left_to_the_misconfiguration_500(param: str) -> None:
    assert session_refusal(refused(param), "subscription_cancel") is None


def test_without_a_flow_nothing_under_flow_data_can_be_refused() -> None:
    assert session_refusal(refused("flow_data[type]"), None) is None
