"""Deep links: the caller's flow, on the customer's own subscription, as Stripe's `flow_data`.

Every `subscription_*` flow type has a `flow_data` sub-object of the same name holding the
subscription; two of them take more (a retention coupon; the item to change and a promotion
code). The other flows (`payment_method_update`, `customer_update`) are the type alone. Coupons,
promotion codes and the confirmation message are the server's (ServerChoices), never the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billing_portal.domain.request import SUBSCRIPTION_FLOWS, PortalRequest
from billing_portal.domain.subscription import Subscription
from billing_portal.errors import InvalidParameter

# The portal configuration feature each flow needs enabled: with it off, Stripe refuses the
# session (409 flow-unavailable). The readiness check and tools/portal_config.py read this map.
FLOW_FEATURES = {
    "customer_update": "customer_update",
    "payment_method_update": "payment_method_update",
    "subscription_cancel": "subscription_cancel",
    "subscription_pause": "subscription_pause",
    "subscription_update": "subscription_update",
    "subscription_update_confirm": "subscription_update",
}


@dataclass(frozen=True)
class ServerChoices:
    """What settings add to a flow (settings.py): never taken from the caller."""

    retention_coupon: str | None = None  # offered in subscription_cancel
    promotion_code: str | None = None  # applied in subscription_update_confirm
    confirmation_message: str | None = None  # shown with after_completion=hosted_confirmation


def _retention(request: PortalRequest, sub: Subscription, ours: ServerChoices) -> dict[str, Any]:
    if ours.retention_coupon is None:
        return {}
    offer = {"coupon": ours.retention_coupon}
    return {"retention": {"type": "coupon_offer", "coupon_offer": offer}}


def _item_change(request: PortalRequest, sub: Subscription, ours: ServerChoices) -> dict[str, Any]:
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
    change: dict[str, Any] = {"items": [item]}
    if ours.promotion_code is not None:
        change["discounts"] = [{"promotion_code": ours.promotion_code}]
    return change


# What a subscription flow's sub-object holds besides the subscription.
EXTRAS: dict[str, Callable[[PortalRequest, Subscription, ServerChoices], dict[str, Any]]] = {
    "subscription_cancel": _retention,
    "subscription_update_confirm": _item_change,
}


def flow_data(
    request: PortalRequest,
    subscription: Subscription | None,
    *,
    return_url: str,
    ours: ServerChoices,
) -> dict[str, Any]:
    """Stripe's `flow_data` for request.flow; `subscription` is resolved for subscription flows."""
    flow = request.flow
    if flow is None:
        raise ValueError("flow_data is for a request with a flow")
    data: dict[str, Any] = {"type": flow}
    if flow in SUBSCRIPTION_FLOWS:
        if subscription is None:
            raise ValueError(f"{flow} needs the subscription resolved first")
        extra = EXTRAS[flow](request, subscription, ours) if flow in EXTRAS else {}
        data[flow] = {"subscription": subscription.id, **extra}
    if request.after_completion is not None:
        data["after_completion"] = {"type": request.after_completion}
    if request.after_completion == "hosted_confirmation" and ours.confirmation_message:
        message = {"custom_message": ours.confirmation_message}
        data["after_completion"]["hosted_confirmation"] = message
    if request.after_completion == "redirect":
        redirect = {"return_url": request.after_completion_url or return_url}
        data["after_completion"]["redirect"] = redirect
    return data
