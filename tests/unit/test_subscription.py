"""Which of a customer's subscriptions a flow may act on."""

from __future__ import annotations

import pytest

from billing_portal.domain.customer import Customer
from billing_portal.domain.subscription import (
    Subscription,
    check_flow_allowed,
    the_customers,
    the_live_subscription,
)
from billing_portal.errors import FlowUnavailable, InvalidParameter, NoSuchSubscription


def subs(*statuses: str) -> list[Subscription]:
    return [
        Subscription(f"sub_{n}", status, ("si_1",), "cus_1") for n, status in enumerate(statuses)
    ]


@pytest.mark.parametrize(
    ("statuses", "chosen"),
    [
        (["active"], "sub_0"),
        (["trialing"], "sub_0"),
        (["past_due"], "sub_0"),
        (["paused"], "sub_0"),  # a trial that ended without a payment method
        (["canceled", "incomplete", "trialing", "unpaid", "incomplete_expired"], "sub_2"),
    ],
)
def test_the_one_live_subscription_of_a_complete_list_is_chosen(
    statuses: list[str], chosen: str
) -> None:
    assert the_live_subscription(subs(*statuses), complete=True).id == chosen


@pytest.mark.parametrize(
    "statuses", [[], ["canceled"], ["incomplete", "incomplete_expired", "unpaid"]]
)
def test_no_live_subscription_is_no_such_subscription(statuses: list[str]) -> None:
    with pytest.raises(NoSuchSubscription):
        the_live_subscription(subs(*statuses), complete=True)


@pytest.mark.parametrize(
    ("statuses", "complete"),
    [
        (["active", "trialing"], True),
        (["past_due", "canceled", "active"], True),
        (["active"], False),  # more may be on the next page: do not guess
        ([], False),
    ],
)
def test_several_or_an_incomplete_list_asks_which_subscription(
    statuses: list[str], complete: bool
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        the_live_subscription(subs(*statuses), complete=complete)

    assert [e["parameter"] for e in caught.value.errors or []] == ["subscription"]


@pytest.mark.parametrize(
    ("customer", "found"),
    [
        (Customer("cus_1"), Subscription("sub_1", "active", ("si_1",), "cus_1")),
        (Customer("cus_1"), Subscription("sub_1", "unpaid", ("si_1",), "cus_1")),
        (Customer("acct_1"), Subscription("sub_1", "trialing", ("si_1",), "acct_1")),
    ],
)
def test_the_customers_own_subscription_is_used(customer: Customer, found: Subscription) -> None:
    assert the_customers(customer, found) is found


@pytest.mark.parametrize(
    "found",
    [
        None,
        Subscription("sub_1", "active", ("si_1",), "cus_2"),
        Subscription("sub_1", "active", ("si_1",), None),
        Subscription("sub_1", "canceled", ("si_1",), "cus_1"),
        Subscription("sub_1", "incomplete_expired", ("si_1",), "cus_1"),
    ],
)
def test_anyone_elses_or_an_ended_one_looks_exactly_like_a_missing_one(
    found: Subscription | None,
) -> None:
    with pytest.raises(NoSuchSubscription) as missing:
        the_customers(Customer("cus_1"), None)
    with pytest.raises(NoSuchSubscription) as caught:
        the_customers(Customer("cus_1"), found)

    assert (caught.value.detail, caught.value.errors) == (
        missing.value.detail,
        missing.value.errors,
    )
    assert caught.value.status == 404


def test_a_paused_subscription_cannot_be_paused_again() -> None:
    with pytest.raises(FlowUnavailable) as caught:
        check_flow_allowed("subscription_pause", subs("paused")[0])

    assert caught.value.flow == "subscription_pause"


@pytest.mark.parametrize(
    ("flow", "status"),
    [
        ("subscription_cancel", "paused"),
        ("subscription_update", "paused"),
        ("subscription_update_confirm", "paused"),
        ("subscription_pause", "active"),
        ("subscription_pause", "trialing"),
    ],
)
def test_other_flows_may_act_on_a_paused_subscription(flow: str, status: str) -> None:
    check_flow_allowed(flow, subs(status)[0])  # no error
