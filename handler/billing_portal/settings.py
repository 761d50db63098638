"""Settings: one pydantic model, read from the environment once per container."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from billing_portal.domain.request import FLOWS
from billing_portal.domain.urls import LOCAL_HOSTS, check_redirect_url, parse_origin

# The deployed function gets its parameter-derived settings as one JSON object in this variable
# (template.yaml): each value stands once in the 4 KB Lambda allows for the whole environment,
# and its literal text changes with every parameter, so that every change publishes a version.
BUNDLE = "BILLING_PORTAL_SETTINGS"


# Claims that name a person for display: users (or their admins) pick them, and two users may
# share one, so none may be the key to a billing account.
DISPLAY_NAME_CLAIMS = frozenset(
    {"preferred_username", "nickname", "name", "given_name", "family_name", "upn", "unique_name"}
)


class SettingsError(Exception):
    """A missing or invalid setting; the message names it and never holds its value if secret."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    customers_table: str = Field(alias="CUSTOMERS_TABLE", min_length=1)
    customers_table_key: str = Field("user_id", alias="CUSTOMERS_TABLE_KEY", min_length=1)
    customer_id_attribute: str = Field(
        "stripe_customer_id", alias="CUSTOMER_ID_ATTRIBUTE", min_length=1
    )
    allowed_origins: frozenset[str] = Field(alias="ALLOWED_ORIGINS", min_length=1)
    default_return_url: str = Field(alias="DEFAULT_RETURN_URL")
    error_redirect_url: str | None = Field(None, alias="ERROR_REDIRECT_URL")

    stripe_api_key_param: str | None = Field(None, alias="STRIPE_API_KEY_PARAM")
    stripe_api_key: SecretStr | None = Field(None, alias="STRIPE_API_KEY")
    stripe_api_base: str | None = Field(None, alias="STRIPE_API_BASE", pattern=r"^https?://")
    portal_configuration_id: str | None = Field(
        None, alias="PORTAL_CONFIGURATION_ID", pattern=r"^bpc_[A-Za-z0-9]+$"
    )
    retention_coupon_id: str | None = Field(None, alias="RETENTION_COUPON_ID")
    # Session options, never the caller's (docs/parameters-and-responses.md#session-options).
    after_expiration_login: bool = Field(False, alias="AFTER_EXPIRATION_LOGIN")
    hosted_confirmation_message: str | None = Field(
        None, alias="HOSTED_CONFIRMATION_MESSAGE", max_length=500
    )
    update_promotion_code: str | None = Field(
        None, alias="UPDATE_PROMOTION_CODE", pattern=r"^promo_[A-Za-z0-9]+$"
    )

    auth_jwt_issuer: str | None = Field(None, alias="AUTH_JWT_ISSUER", pattern=r"^https?://")
    auth_jwt_audience: tuple[str, ...] = Field((), alias="AUTH_JWT_AUDIENCE")
    auth_jwks_url: str | None = Field(None, alias="AUTH_JWKS_URL", pattern=r"^https?://")
    auth_cookie_name: str | None = Field(None, alias="AUTH_COOKIE_NAME")
    user_id_claim: str = Field("sub", alias="USER_ID_CLAIM", min_length=1)
    billing_role_claim: str | None = Field(None, alias="BILLING_ROLE_CLAIM")
    billing_roles: frozenset[str] = Field(frozenset(), alias="BILLING_ROLES")

    create_missing_customers: bool = Field(False, alias="CREATE_MISSING_CUSTOMERS")
    # The flow values this deployment offers; None: every flow (a plain click always works).
    portal_flows: frozenset[str] | None = Field(None, alias="PORTAL_FLOWS")
    # Salts the user pseudonym in logs (template.yaml: the stack's id). Unset (local runs): one
    # per process, so pseudonyms still cannot be reversed, only not joined across containers.
    user_hash_salt: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(16)), alias="USER_HASH_SALT"
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        items = _split_commas(value)
        if isinstance(items, tuple):
            return frozenset(parse_origin(item) for item in items)
        return items

    @field_validator("auth_jwt_audience", mode="before")
    @classmethod
    def _parse_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("user_id_claim")
    @classmethod
    def _not_a_display_name(cls, value: str) -> str:
        if value in DISPLAY_NAME_CLAIMS:
            raise ValueError(
                f"'{value}' is a display name the user can choose, never a key; name a claim "
                "the identity provider assigns (sub, oid, an organisation id)"
            )
        return value

    @field_validator("stripe_api_base")
    @classmethod
    def _stripe_base(cls, value: str | None) -> str | None:
        parts = urlsplit(value or "")
        # The key travels in every request to it: https, or http to a stand-in on this machine.
        if value is not None and not (
            (parts.scheme == "https" and parts.hostname)
            or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)
        ):
            raise ValueError("must be an https:// URL (http:// only for localhost or 127.0.0.1)")
        return value

    @field_validator("billing_roles", mode="before")
    @classmethod
    def _parse_roles(cls, value: object) -> object:
        roles = _split_commas(value)
        # "," would otherwise read as "no gate": a gate the operator meant to set, silently open.
        if isinstance(value, str) and not roles:
            raise ValueError("names no role (give comma-separated role names)")
        return roles

    @field_validator("portal_flows", mode="before")
    @classmethod
    def _parse_flows(cls, value: object) -> object:
        if isinstance(value, str):
            return offered_flows(value)
        return value

    @model_validator(mode="after")
    def _check_together(self) -> Settings:
        for name, url in (
            ("DEFAULT_RETURN_URL", self.default_return_url),
            ("ERROR_REDIRECT_URL", self.error_redirect_url),
        ):
            if url is not None:
                try:
                    check_redirect_url(url, self.allowed_origins)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        if not self.stripe_api_key and not self.stripe_api_key_param:
            raise ValueError("set STRIPE_API_KEY_PARAM (or STRIPE_API_KEY for local use)")
        if self.billing_roles and not self.billing_role_claim:
            raise ValueError("BILLING_ROLES needs BILLING_ROLE_CLAIM (the claim holding roles)")
        if self.billing_role_claim and not self.billing_roles:
            raise ValueError("BILLING_ROLE_CLAIM needs BILLING_ROLES (the roles that may enter)")
        return self

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.auth_jwt_issuer is None:
            for name, value in (
                ("AUTH_JWKS_URL", self.auth_jwks_url),
                ("AUTH_COOKIE_NAME", self.auth_cookie_name),
            ):
                if value:
                    raise ValueError(f"{name} needs AUTH_JWT_ISSUER, which is not set")
            return self
        # Without an audience, any app's token from the same issuer (user pool) would pass.
        if not self.auth_jwt_audience:
            raise ValueError("AUTH_JWT_AUDIENCE is required when AUTH_JWT_ISSUER is set")
        for name, url in (
            ("AUTH_JWT_ISSUER", self.auth_jwt_issuer),
            ("AUTH_JWKS_URL", self.auth_jwks_url),
        ):
            parts = urlsplit(url or "")
            # http only for a local identity provider (Keycloak, a mock OIDC server).
            if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
                raise ValueError(f"{name} must use https (http is only for localhost)")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; SettingsError names what is wrong."""
        env = os.environ if environ is None else environ
        # A variable of its own wins over the bundle's member of that name (a local override).
        # An empty value means "not set": SAM passes '' for optional parameters left blank.
        values = {key: value for key, value in _bundle(env).items() if value.strip()}
        values.update({key: value for key, value in env.items() if value.strip()})
        values.pop(BUNDLE, None)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


def _bundle(env: Mapping[str, str]) -> dict[str, str]:
    text = env.get(BUNDLE, "").strip()
    if not text:
        return {}
    try:
        bundle = json.loads(text)
    except ValueError:
        raise SettingsError(f"{BUNDLE}: not JSON") from None
    if not isinstance(bundle, dict) or not all(isinstance(v, str) for v in bundle.values()):
        raise SettingsError(f"{BUNDLE}: must be a JSON object of strings")
    return bundle


def offered_flows(value: str) -> frozenset[str] | None:
    """PORTAL_FLOWS' flows (comma-separated), None for every flow when it is blank; ValueError
    for a name that is no flow, or a list naming none (",": a restriction meant, not "all")."""
    if not value.strip():
        return None
    flows = frozenset(item.strip() for item in value.split(",") if item.strip())
    unknown = sorted(flows - FLOWS)
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is no flow (flows: {', '.join(sorted(FLOWS))})")
    if not flows:
        raise ValueError("names no flow (give comma-separated flow values, or leave it empty)")
    return flows


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        # loc holds the alias, which is the environment variable's name.
        name = str(error["loc"][0]) if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)
