"""Versions for the readiness check and the PreTraffic hook: a good one and the ways a new
version is broken in a real deploy, each made with the environment and the stand-ins (moto, the
Stripe stand-in) the way a deploy would get it wrong."""

from __future__ import annotations

from typing import Any

import pytest

from testing.fake_stripe import FakeStripe

# What the hook sends: prod needs a live key, dev a test key.
ENVIRONMENTS = {"dev": False, "prod": True}
# The version, and what is wrong with it.
VERSIONS = (
    "ready",
    "key unreadable",
    "wrong key mode",
    "configuration missing",
    "configuration lacks a flow's feature",
    "table unreadable",
)
KEY_PARAM = "/billing-portal/stripe-api-key"  # the template's default StripeApiKeyParam
# Every feature the flows need, but subscription_pause's.
WITHOUT_PAUSE = {
    "customer_update": {"enabled": True, "allowed_updates": ["email"]},
    "payment_method_update": {"enabled": True},
    "subscription_cancel": {"enabled": True},
    "subscription_update": {
        "enabled": True,
        "default_allowed_updates": ["price"],
        "products": [{"product": "prod_demo", "prices": ["price_basic", "price_pro"]}],
    },
}


def readiness_event(environment: str) -> dict[str, Any]:
    return {"readiness": {"live_key": ENVIRONMENTS[environment]}}


def make_version(version: str, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe) -> str:
    """Set the environment (and the stand-in) up as `version` has it, before the handler is built;
    the EnvironmentType it is deployed in."""
    if version == "key unreadable":  # the parameter the role may read was never created
        monkeypatch.delenv("STRIPE_API_KEY")
        monkeypatch.setenv("STRIPE_API_KEY_PARAM", KEY_PARAM)
    elif version == "wrong key mode":  # prod deployed with the test key
        return "prod"
    elif version == "configuration missing":  # an id from the other mode, or a typo
        monkeypatch.setenv("PORTAL_CONFIGURATION_ID", "bpc_1NotInThisAccount")
    elif version == "configuration lacks a flow's feature":
        monkeypatch.setenv("PORTAL_CONFIGURATION_ID", fake_stripe.add_configuration(WITHOUT_PAUSE))
    elif version == "table unreadable":  # the stack points at a table that is not there
        monkeypatch.setenv("CUSTOMERS_TABLE", "billing-portal-customers-gone")
    else:
        assert version == "ready", version
    return "dev"
