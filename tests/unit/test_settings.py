"""Settings are checked once, and a bad one is named without its value."""

from __future__ import annotations

import json

import pytest

from billing_portal.settings import Settings, SettingsError
from testing.harness import DEMO_SETTINGS


def test_demo_settings_load_with_contract_defaults() -> None:
    settings = Settings.from_environ(DEMO_SETTINGS)

    assert settings.customers_table_key == "user_id"
    assert settings.customer_id_attribute == "stripe_customer_id"
    assert settings.user_id_claim == "sub"
    assert settings.create_missing_customers is False
    assert settings.allowed_origins == {"https://app.example.com", "http://localhost:3000"}


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_environ({**DEMO_SETTINGS, "PORTAL_CONFIGURATION_ID": ""})

    assert settings.portal_configuration_id is None


# Claims a user (or an admin) picks for display: never the key to a billing account.
DISPLAY_NAMES = [
    "preferred_username", "nickname", "name", "given_name", "family_name", "upn", "unique_name",
]  # fmt: skip
# Where the Stripe key must never be sent: plain http beyond this machine, or no host at all.
NOT_STRIPE_BASES = [
    "http://api.stripe.com",
    "http://10.0.0.5:12111",
    "http://localhost.evil.example",
    "http://127.0.0.1.evil.example:12111",
    "https://",
    "ftp://127.0.0.1",
]


@pytest.mark.parametrize(
    "base",
    ["https://api.stripe.com", "https://stripe-mock.internal:12111", "http://127.0.0.1:12111",
     "http://localhost:12111"],
)  # fmt: skip
def test_stripe_api_base_is_https_or_a_local_stand_in(base: str) -> None:
    assert Settings.from_environ({**DEMO_SETTINGS, "STRIPE_API_BASE": base}).stripe_api_base == base


@pytest.mark.parametrize("claim", ["sub", "oid", "org_id", "username_id", "https://ex.com/name"])
def test_claims_that_are_not_display_names_may_be_keys(claim: str) -> None:
    settings = Settings.from_environ({**DEMO_SETTINGS, "USER_ID_CLAIM": claim})

    assert settings.user_id_claim == claim


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"CUSTOMERS_TABLE": ""}, "CUSTOMERS_TABLE"),
        ({"ALLOWED_ORIGINS": "http://app.example.com"}, "ALLOWED_ORIGINS"),
        ({"DEFAULT_RETURN_URL": "https://elsewhere.example/"}, "DEFAULT_RETURN_URL"),
        ({"ERROR_REDIRECT_URL": "https://elsewhere.example/"}, "ERROR_REDIRECT_URL"),
        ({"PORTAL_CONFIGURATION_ID": "cus_123"}, "PORTAL_CONFIGURATION_ID"),
        ({"STRIPE_API_KEY": ""}, "STRIPE_API_KEY_PARAM"),
        ({"CREATE_MISSING_CUSTOMERS": "maybe"}, "CREATE_MISSING_CUSTOMERS"),
        ({"BILLING_ROLES": "admin"}, "BILLING_ROLE_CLAIM"),
        ({"BILLING_ROLE_CLAIM": "roles"}, "BILLING_ROLES"),
        ({"BILLING_ROLE_CLAIM": "roles", "BILLING_ROLES": ","}, "BILLING_ROLES"),
        ({"UPDATE_PROMOTION_CODE": "FREE100"}, "UPDATE_PROMOTION_CODE"),  # a code, not its promo_
        ({"AFTER_EXPIRATION_LOGIN": "sometimes"}, "AFTER_EXPIRATION_LOGIN"),
        ({"HOSTED_CONFIRMATION_MESSAGE": "x" * 501}, "HOSTED_CONFIRMATION_MESSAGE"),
        ({"PORTAL_FLOWS": "subscription_cancle"}, "PORTAL_FLOWS: subscription_cancle is no flow"),
        ({"PORTAL_FLOWS": "home,payment_method_update"}, "PORTAL_FLOWS: home is no flow"),
        ({"PORTAL_FLOWS": " , "}, "PORTAL_FLOWS: names no flow"),
        *(({"USER_ID_CLAIM": name}, "USER_ID_CLAIM") for name in DISPLAY_NAMES),
        *(({"STRIPE_API_BASE": base}, "STRIPE_API_BASE") for base in NOT_STRIPE_BASES),
    ],
)
def test_a_bad_setting_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_environ({**DEMO_SETTINGS, **change})


SECRET = "sk_live_51SettingsLeakCheck"


@pytest.mark.parametrize(
    "broken",
    [
        {"STRIPE_API_BASE": "ftp://x"},  # a field's own check
        {"DEFAULT_RETURN_URL": "https://elsewhere.example/"},  # a check across fields
        {"AUTH_JWT_ISSUER": "https://issuer.example"},  # the auth checks
        {"CREATE_MISSING_CUSTOMERS": SECRET},  # the secret in the broken field itself
    ],
)
def test_a_settings_error_never_echoes_a_secret_from_the_environment(
    broken: dict[str, str],
) -> None:
    environ = {**DEMO_SETTINGS, "STRIPE_API_KEY": SECRET, "USER_HASH_SALT": SECRET, **broken}

    with pytest.raises(SettingsError) as caught:
        Settings.from_environ(environ)

    assert SECRET not in str(caught.value)
    assert str(caught.value)  # it still names what is wrong


# --- The deployed shape: one JSON object of settings (template.yaml's BILLING_PORTAL_SETTINGS) --


def _bundled(**settings: str) -> dict[str, str]:
    return {"BILLING_PORTAL_SETTINGS": json.dumps(settings)}


def test_settings_bundled_as_json_read_as_their_own_variables_would() -> None:
    bundle = {k: v for k, v in DEMO_SETTINGS.items() if k != "CUSTOMERS_TABLE"}
    environ = {**_bundled(**bundle, CUSTOMERS_TABLE=""), "CUSTOMERS_TABLE": "created-by-stack"}

    settings = Settings.from_environ(environ)

    separate = Settings.from_environ({**DEMO_SETTINGS, "CUSTOMERS_TABLE": "created-by-stack"})
    # Everything but the salt, which is random per process when unset.
    assert settings.model_dump(exclude={"user_hash_salt"}) == separate.model_dump(
        exclude={"user_hash_salt"}
    )


def test_a_variable_of_its_own_wins_over_the_bundles_member() -> None:
    environ = {**DEMO_SETTINGS, **_bundled(USER_ID_CLAIM="org_id"), "USER_ID_CLAIM": "sub"}

    assert Settings.from_environ(environ).user_id_claim == "sub"


@pytest.mark.parametrize(
    "bundle", ["{not json", '["a list"]', '{"ALLOWED_ORIGINS": ["https://app.example.com"]}']
)
def test_a_bundle_that_is_no_json_object_of_strings_is_named(bundle: str) -> None:
    with pytest.raises(SettingsError, match="BILLING_PORTAL_SETTINGS"):
        Settings.from_environ({**DEMO_SETTINGS, "BILLING_PORTAL_SETTINGS": bundle})


@pytest.mark.parametrize(
    ("value", "offered"),
    [
        (None, None),  # unset: every flow
        ("", None),  # SAM's blank parameter
        ("payment_method_update", {"payment_method_update"}),
        (
            " subscription_cancel, payment_method_update ,",
            {"subscription_cancel", "payment_method_update"},
        ),
    ],
)
def test_portal_flows_lists_the_flows_offered(value: str | None, offered: set[str] | None) -> None:
    environ = DEMO_SETTINGS if value is None else {**DEMO_SETTINGS, "PORTAL_FLOWS": value}

    flows = Settings.from_environ(environ).portal_flows

    assert flows == (None if offered is None else frozenset(offered))
