"""Stripe's portal configuration parameters, as pydantic models (extra="forbid").

A mirror of the pinned stripe SDK's ``ConfigurationCreateParams`` TypedDicts
(stripe/params/billing_portal/_configuration_create_params.py): the same names, the same required
fields, the same enum values (the SDK also lets any other string through; Stripe does not, so
neither do these). ``portal.yaml`` is checked against them offline, and the local Stripe stand-in
checks the configurations it is sent with them. tests/test_fake_stripe.py fails when they and
the SDK drift apart. Not shipped in the Lambda: only tools and tests use it.

``Blank`` is the SDK's ``Literal['']``: an empty string unsets the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Blank = Literal[""]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessProfile(Params):
    headline: str | Blank | None = None
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None


class CustomerUpdate(Params):
    allowed_updates: (
        list[Literal["address", "email", "name", "phone", "shipping", "tax_id"]] | Blank | None
    ) = None
    enabled: bool


class InvoiceHistory(Params):
    enabled: bool


class PaymentMethodUpdate(Params):
    enabled: bool
    payment_method_configuration: str | Blank | None = None


CancellationReasonOption = Literal[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
]


class CancellationReason(Params):
    enabled: bool
    feedback_options: list[str] | Blank | None = None
    options: list[CancellationReasonOption] | Blank


Proration = Literal["always_invoice", "create_prorations", "none"]


class SubscriptionCancel(Params):
    cancellation_reason: CancellationReason | None = None
    enabled: bool
    mode: Literal["at_period_end", "immediately"] | None = None
    proration_behavior: Proration | None = None


class IntervalOption(Params):
    interval: Literal["day", "month", "week", "year"]
    interval_count: int | None = None


class PauseDuration(Params):
    interval_options: list[IntervalOption] | Blank | None = None
    type: Literal["indefinite", "interval_options"]


class SubscriptionPause(Params):
    duration: PauseDuration | None = None
    enabled: bool | None = None


class AdjustableQuantity(Params):
    enabled: bool
    maximum: int | None = None
    minimum: int | None = None


class Product(Params):
    adjustable_quantity: AdjustableQuantity | None = None
    prices: list[str]
    product: str


class Condition(Params):
    type: Literal["decreasing_item_amount", "shortening_interval"]


class ScheduleAtPeriodEnd(Params):
    conditions: list[Condition] | None = None


class SubscriptionUpdate(Params):
    billing_cycle_anchor: Literal["now", "unchanged"] | None = None
    default_allowed_updates: list[Literal["price", "promotion_code", "quantity"]] | Blank | None = (
        None
    )
    enabled: bool
    products: list[Product] | Blank | None = None
    proration_behavior: Proration | None = None
    schedule_at_period_end: ScheduleAtPeriodEnd | None = None
    trial_update_behavior: Literal["continue_trial", "end_trial"] | None = None


class Features(Params):
    customer_update: CustomerUpdate | None = None
    invoice_history: InvoiceHistory | None = None
    payment_method_update: PaymentMethodUpdate | None = None
    subscription_cancel: SubscriptionCancel | None = None
    subscription_pause: SubscriptionPause | None = None
    subscription_update: SubscriptionUpdate | None = None


class LoginPage(Params):
    enabled: bool


class ConfigurationCreate(Params):
    """ConfigurationCreateParams (request options such as `expand` aside, which are not part of
    a configuration)."""

    business_profile: BusinessProfile | None = None
    default_return_url: str | Blank | None = None
    expand: list[str] | None = None
    features: Features
    login_page: LoginPage | None = None
    metadata: dict[str, str] | None = None
    name: str | Blank | None = None
