"""Subscriptions: which of a customer's subscriptions a flow may act on."""

from __future__ import annotations

from dataclasses import dataclass

from billing_portal.domain.customer import Customer
from billing_portal.errors import FlowUnavailable, InvalidParameter, NoSuchSubscription

# `paused` (API 2026-09-30: a trial that ended without a payment method) is live: its customer
# may cancel it, change its plan or fix its payment method, as with active and trialing.
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "paused"})
# No flow can act on these; a stale link to one is answered like a missing subscription.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str
    item_ids: tuple[str, ...]
    owner: str | None = None  # the customer (or Accounts v2 account) Stripe says it belongs to


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


def the_customers(customer: Customer, found: Subscription | None) -> Subscription:
    """`found` when it is the customer's and not ended. Another customer's is answered exactly
    like a missing one, so subscription ids cannot be probed."""
    if found is None or found.owner != customer.id or found.status in ENDED_STATUSES:
        raise NoSuchSubscription("This account has no such subscription.")
    return found


def check_flow_allowed(flow: str, subscription: Subscription) -> None:
    """Refuse, before asking Stripe, a flow the subscription's status already rules out."""
    if flow == "subscription_pause" and subscription.status == "paused":
        raise FlowUnavailable("This subscription is already paused.", flow=flow)
