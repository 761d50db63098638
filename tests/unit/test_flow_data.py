"""Deep links: the flow_data Stripe receives for each flow, built from a checked request."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from billing_portal.domain.flows import ServerChoices, flow_data
from billing_portal.domain.request import Flow, portal_request
from billing_portal.domain.subscription import Subscription
from billing_portal.errors import InvalidParameter

ALLOWED = frozenset({"https://app.example.com"})
RETURN = "https://app.example.com/account"
SUB = Subscription("sub_1", "active", ("si_1",), owner="cus_1")
CONFIRM = "subscription_update_confirm"

# Each flow's own sub-object (besides the type), when the request says no more than the flow;
# a new Flow without an entry here fails below.
OWN_OBJECT: dict[str, dict[str, Any] | None] = {
    "customer_update": None,
    "payment_method_update": None,
    "subscription_cancel": {"subscription": "sub_1"},
    "subscription_pause": {"subscription": "sub_1"},
    "subscription_update": {"subscription": "sub_1"},
    CONFIRM: {"subscription": "sub_1", "items": [{"id": "si_1", "quantity": 2}]},
}


NONE_CHOSEN = ServerChoices()


def build(
    raw: dict[str, Any], sub: Subscription | None = SUB, ours: ServerChoices = NONE_CHOSEN
) -> Any:
    request = portal_request(raw, ALLOWED)
    subscription = sub if request.acts_on_subscription else None
    return flow_data(request, subscription, return_url=RETURN, ours=ours)


@pytest.mark.parametrize("flow", get_args(Flow))
def test_each_flow_is_its_type_and_its_own_object(flow: str) -> None:
    raw = {"flow": flow, **({"quantity": "2"} if flow == CONFIRM else {})}
    own = OWN_OBJECT[flow]

    assert build(raw) == {"type": flow, **({flow: own} if own is not None else {})}


@pytest.mark.parametrize(
    ("flow", "coupon", "retention"),
    [
        (
            "subscription_cancel",
            "stay20",
            {"type": "coupon_offer", "coupon_offer": {"coupon": "stay20"}},
        ),
        ("subscription_cancel", None, None),
        ("subscription_pause", "stay20", None),
        ("subscription_update", "stay20", None),
    ],
)
def test_the_retention_coupon_is_offered_only_on_cancel(
    flow: str, coupon: str | None, retention: dict[str, Any] | None
) -> None:
    data = build({"flow": flow}, ours=ServerChoices(retention_coupon=coupon))

    assert data[flow].get("retention") == retention


@pytest.mark.parametrize(
    ("change", "item"),
    [
        ({"price": "price_pro"}, {"id": "si_1", "price": "price_pro"}),
        ({"quantity": "5"}, {"id": "si_1", "quantity": 5}),
        (
            {"price": "price_pro", "quantity": "1"},
            {"id": "si_1", "price": "price_pro", "quantity": 1},
        ),
    ],
)
def test_a_single_item_subscription_changes_that_item(
    change: dict[str, str], item: dict[str, Any]
) -> None:
    assert build({"flow": CONFIRM, **change})[CONFIRM]["items"] == [item]


def test_a_two_item_subscription_cannot_be_changed_by_a_deep_link() -> None:
    two_items = Subscription("sub_2", "active", ("si_1", "si_2"), owner="cus_1")

    with pytest.raises(InvalidParameter) as caught:
        build({"flow": CONFIRM, "price": "price_pro"}, sub=two_items)

    assert [e["parameter"] for e in caught.value.errors or []] == ["subscription"]


@pytest.mark.parametrize(
    ("extra", "after_completion"),
    [
        ({}, None),
        ({"after_completion": "portal_homepage"}, {"type": "portal_homepage"}),
        ({"after_completion": "hosted_confirmation"}, {"type": "hosted_confirmation"}),
        (
            {"after_completion": "redirect"},
            {"type": "redirect", "redirect": {"return_url": RETURN}},
        ),
        (
            {"after_completion": "redirect", "after_completion_url": "https://app.example.com/bye"},
            {"type": "redirect", "redirect": {"return_url": "https://app.example.com/bye"}},
        ),
    ],
)
@pytest.mark.parametrize("flow", ["customer_update", "subscription_cancel"])
def test_after_completion_redirects_to_the_return_url_unless_told_otherwise(
    flow: str, extra: dict[str, str], after_completion: dict[str, Any] | None
) -> None:
    data = build({"flow": flow, **extra})

    assert data.get("after_completion") == after_completion


# Every option settings add, at once: each lands in its own flow only.
EVERY_CHOICE = ServerChoices(
    retention_coupon="stay20", promotion_code="promo_Back10", confirmation_message="Thanks!"
)


@pytest.mark.parametrize("flow", get_args(Flow))
def test_the_promotion_code_is_applied_to_update_confirm_only(flow: str) -> None:
    raw = {"flow": flow, **({"quantity": "2"} if flow == CONFIRM else {})}

    data = build(raw, ours=EVERY_CHOICE)

    discounts = (data.get(flow) or {}).get("discounts")
    assert discounts == ([{"promotion_code": "promo_Back10"}] if flow == CONFIRM else None)


@pytest.mark.parametrize(
    ("after_completion", "confirmation"),
    [
        ("hosted_confirmation", {"custom_message": "Thanks!"}),
        ("portal_homepage", None),
        ("redirect", None),
    ],
)
def test_the_confirmation_message_goes_with_the_hosted_confirmation_only(
    after_completion: str, confirmation: dict[str, str] | None
) -> None:
    data = build(
        {"flow": "payment_method_update", "after_completion": after_completion}, ours=EVERY_CHOICE
    )

    assert data["after_completion"].get("hosted_confirmation") == confirmation
