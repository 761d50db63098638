"""Deep links: the caller's flow, on the customer's own subscription, as Stripe's `flow_data`.

Every `subscription_*` flow type has a `flow_data` sub-object of the same name holding the
subscription; two of them take more (a retention coupon, the item to change). The other flows
(`payment_method_update`, `customer_update`) are the type alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from errors import InvalidParameter, NoSuchSubscription
from params import Flow, PortalRequest

SUBSCRIPTION_FLOWS = frozenset(flow for flow in get_args(Flow) if flow.startswith("subscription_"))
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
# No flow can act on these; a stale link to one is answered like a missing subscription.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str
    item_ids: tuple[str, ...]

    @classmethod
    def from_stripe(cls, data: dict[str, Any]) -> Subscription:
        items = data.get("items") or {}
        return cls(data["id"], data["status"], tuple(i["id"] for i in items.get("data", [])))


def the_live_subscription(listed: list[Subscription], complete: bool) -> Subscription:
    """The one live subscription among those listed; `complete` says the list is all of them."""
    live = [sub for sub in listed if sub.status in LIVE_STATUSES]
    if complete and len(live) == 1:
        return live[0]
    if complete and not live:
        raise NoSuchSubscription("This account has no active subscription.")
    raise InvalidParameter.single(
        "subscription", "this account has several subscriptions; say which one (sub_...)"
    )


def _retention(request: PortalRequest, sub: Subscription, coupon: str | None) -> dict[str, Any]:
    if coupon is None:
        return {}
    return {"retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon}}}


def _item_change(request: PortalRequest, sub: Subscription, coupon: str | None) -> dict[str, Any]:
    if len(sub.item_ids) != 1:
        raise InvalidParameter.single(
            "subscription",
            "has more than one item; only a single-item subscription can be changed this way",
        )
    item: dict[str, Any] = {"id": sub.item_ids[0]}
    if request.price is not None:
        item["price"] = request.price
    if request.quantity is not None:
        item["quantity"] = request.quantity
    return {"items": [item]}


# What a subscription flow's sub-object holds besides the subscription.
EXTRAS: dict[str, Callable[[PortalRequest, Subscription, str | None], dict[str, Any]]] = {
    "subscription_cancel": _retention,
    "subscription_update_confirm": _item_change,
}


def flow_data(
    request: PortalRequest,
    subscription: Subscription | None,
    *,
    return_url: str,
    retention_coupon: str | None,
) -> dict[str, Any]:
    """Stripe's `flow_data` for request.flow; `subscription` is resolved for subscription flows."""
    flow = request.flow
    assert flow is not None
    data: dict[str, Any] = {"type": flow}
    if flow in SUBSCRIPTION_FLOWS:
        assert subscription is not None
        extra = EXTRAS.get(flow, lambda *_: {})(request, subscription, retention_coupon)
        data[flow] = {"subscription": subscription.id, **extra}
    if request.after_completion is not None:
        data["after_completion"] = {"type": request.after_completion}
    if request.after_completion == "redirect":
        redirect = {"return_url": request.after_completion_url or return_url}
        data["after_completion"]["redirect"] = redirect
    return data
