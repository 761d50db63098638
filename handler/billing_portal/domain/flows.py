"""Deep links: the caller's flow, on the customer's own subscription, as Stripe's `flow_data`.

Every `subscription_*` flow type has a `flow_data` sub-object of the same name holding the
subscription; two of them take more (a retention coupon, the item to change). The other flows
(`payment_method_update`, `customer_update`) are the type alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_portal.domain.request import SUBSCRIPTION_FLOWS, PortalRequest
from billing_portal.domain.subscription import Subscription
from billing_portal.errors import InvalidParameter


def _retention(request: PortalRequest, sub: Subscription, coupon: str | None) -> dict[str, Any]:
    if coupon is None:
        return {}
    return {"retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon}}}


def _item_change(request: PortalRequest, sub: Subscription, coupon: str | None) -> dict[str, Any]:
    if len(sub.item_ids) != 1:
        raise InvalidParameter.single(
            "subscription",
            "must have exactly one item to be changed this way",
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
