"""What a caller may ask for: one strict model and the rules about which parameters go together.

Never the customer, configuration, on_behalf_of or discounts: those come from settings or the
customers table, so a caller cannot reach another customer or discount themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from billing_portal.domain.urls import check_redirect_url
from billing_portal.errors import InvalidParameter

# Stripe's customer-portal locales (the pinned SDK's SessionCreateParams "locale" enum).
Locale = Literal[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
]  # fmt: skip
# Every flow type the pinned SDK knows (SessionCreateParamsFlowData "type"); flows.py maps each.
Flow = Literal[
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
]
FLOWS = frozenset(get_args(Flow))
SUBSCRIPTION_FLOWS = frozenset(flow for flow in FLOWS if flow.startswith("subscription_"))
AfterCompletion = Literal["hosted_confirmation", "portal_homepage", "redirect"]
# Stripe session parameters the caller may never set: they come from settings or the table item.
SERVER_CHOSEN = frozenset({
    "configuration", "coupon", "customer", "customer_account", "discounts", "flow_data",
    "on_behalf_of", "promotion_code", "retention",
})  # fmt: skip
DIGITS = re.compile(r"[0-9]{1,5}")
CONFIRM_ONLY = "is only allowed with flow=subscription_update_confirm"


class PortalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    return_url: str | None = None
    locale: Locale | None = None
    flow: Flow | None = None
    subscription: str | None = Field(None, max_length=255, pattern=r"^sub_[A-Za-z0-9]+$")
    price: str | None = Field(None, max_length=255, pattern=r"^price_[A-Za-z0-9]+$")
    quantity: int | None = Field(None, ge=1, le=10000)
    after_completion: AfterCompletion | None = None
    after_completion_url: str | None = None

    @field_validator("quantity", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # Form values are strings: "3" is 3, but never "3.5", " 3", 3.0 or a JSON true.
        if value is None:
            return None
        if isinstance(value, str) and DIGITS.fullmatch(value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("must be a whole number from 1 to 10000")

    @field_validator("return_url", "after_completion_url")
    @classmethod
    def _same_origin(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None:
            return None
        allowed: frozenset[str] = (info.context or {}).get("allowed_origins", frozenset())
        return check_redirect_url(url, allowed)

    @property
    def acts_on_subscription(self) -> bool:
        return self.flow in SUBSCRIPTION_FLOWS


def portal_request(raw: Mapping[str, Any], allowed_origins: frozenset[str]) -> PortalRequest:
    """The checked request, or InvalidParameter naming every bad parameter."""
    try:
        request = PortalRequest.model_validate(raw, context={"allowed_origins": allowed_origins})
    except ValidationError as exc:
        raise InvalidParameter([_field_error(error) for error in exc.errors()]) from None
    errors = combination_errors(request)
    if errors:
        raise InvalidParameter(errors)
    return request


def combination_errors(request: PortalRequest) -> list[dict[str, str]]:
    """Parameters that are fine alone but not with the others (each error names one)."""
    confirm = request.flow == "subscription_update_confirm"
    rules = [
        ("after_completion", request.flow is None, "is only allowed with flow"),
        (
            "after_completion_url",
            request.after_completion != "redirect",
            "is only allowed with after_completion=redirect",
        ),
        (
            "subscription",
            not request.acts_on_subscription,
            "is only allowed with a subscription_* flow",
        ),
        ("price", not confirm, CONFIRM_ONLY),
        ("quantity", not confirm, CONFIRM_ONLY),
    ]
    errors = [
        {"parameter": name, "detail": detail}
        for name, misplaced, detail in rules
        if misplaced and getattr(request, name) is not None
    ]
    if confirm and request.price is None and request.quantity is None:
        errors.append({"parameter": "price", "detail": "price or quantity (or both) is required"})
    return errors


def _field_error(error: Any) -> dict[str, str]:
    parameter = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden" and parameter in SERVER_CHOSEN:
        return {"parameter": parameter, "detail": "is set by the server, never by the caller"}
    if error["type"] == "extra_forbidden":
        return {"parameter": parameter, "detail": "is not a known parameter"}
    return {"parameter": parameter, "detail": error["msg"].removeprefix("Value error, ")}
