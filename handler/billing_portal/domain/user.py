"""The signed-in user: the key that finds their billing account, and the claims it came with."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from billing_portal.domain.claims import claim, flattened_object, values
from billing_portal.domain.urls import is_text
from billing_portal.errors import ForbiddenRole, InvalidToken

# Claims a user can edit themselves (many identity providers let users change their email), by
# how their name ends (`email`, `https://example.com/email`, `user.email`, WS-Federation's
# `.../claims/emailaddress`), with the standard claim that proves them: such a claim is a key
# only when the provider says it verified the value.
EDITABLE = {"email": "email", "emailaddress": "email", "phone_number": "phone_number"}
# Stripe's metadata values hold 500 characters (and DynamoDB keys 2048 bytes, which 500
# characters of UTF-8 never exceed).
KEY_MAX = 500
# Control (C0, C1, DEL), format (U+202E right-to-left override, U+FEFF, zero-width joiners),
# line and paragraph separator characters, and lone surrogates: invisible or misleading in a
# table, a log or the Stripe dashboard, and two keys that look alike would be two users.
ODD_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@dataclass(frozen=True)
class User:
    key: str
    claims: dict[str, Any] = field(repr=False)

    @classmethod
    def from_claims(
        cls, claims: dict[str, Any], key_claim: str, *, from_authorizer: bool = False
    ) -> User:
        """The user (or team) whose key is the `key_claim` claim (a name or a path), or
        InvalidToken (401) saying why not. `from_authorizer`: the claims are API Gateway's text
        form (domain/claims.py), where a list claim arrives as `"[a b]"`."""
        key = claim(claims, key_claim)
        if flattened_object(claims, key_claim):
            raise InvalidToken(
                f"The '{key_claim}' claim is inside an object claim that API Gateway's authorizer "
                "passes on as text; verify tokens in the function or emit a flat claim."
            )
        if not isinstance(key, str) or not key:
            raise InvalidToken(f"The token has no '{key_claim}' claim.")
        if len(key) > KEY_MAX or any(unicodedata.category(c) in ODD_CATEGORIES for c in key):
            raise InvalidToken(
                f"The token's '{key_claim}' cannot be a user key (over {KEY_MAX} characters, "
                "or control, format or separator characters)."
            )
        if from_authorizer and key.startswith("[") and key.endswith("]"):
            # API Gateway's text for a list claim (a user in several organisations): taking it
            # as a key would make a customer for "[acme globex]".
            raise InvalidToken(
                f"The token's '{key_claim}' is a list, which cannot be a user key; emit one "
                "value, or verify tokens in the function."
            )
        flag = verification_claim(claims, key_claim)
        if flag is not None and not _is_true(claim(claims, flag)):
            raise InvalidToken(f"The token's '{key_claim}' is not verified ({flag}).")
        return cls(key=key, claims=claims)

    def require_role(
        self, role_claim: str, allowed: frozenset[str], *, from_authorizer: bool
    ) -> None:
        """ForbiddenRole (403) unless the `role_claim` claim holds one of `allowed`, whole
        (`from_authorizer`: the claims are API Gateway's text form, see domain/claims.py)."""
        held = values(claim(self.claims, role_claim), role_claim, from_authorizer=from_authorizer)
        if not allowed.intersection(held):
            raise ForbiddenRole("Only billing admins of this account may open its billing portal.")

    def pseudonym(self, salt: bytes) -> str:
        """What logs carry instead of the user key: stable within a deployment, and not
        reversible by hashing guesses (an email address) without the deployment's salt."""
        return hmac.new(salt, self.key.encode(), hashlib.sha256).hexdigest()[:16]


def verification_claim(claims: dict[str, Any], key_claim: str) -> str | None:
    """The claim that must be true for `key_claim` to be a key, or None when any value may be.

    For a claim the user can edit: the key's own name plus `_verified` when the claims hold it
    (`https://example.com/email_verified`, `user.email_verified`), else the standard
    `email_verified` / `phone_number_verified`.
    """
    name = key_claim.lower()
    editable = next((std for kind, std in EDITABLE.items() if name.endswith(kind)), None)
    if editable is None:
        return None
    own = key_claim + "_verified"
    return own if claim(claims, own) is not None else editable + "_verified"


def _is_true(value: object) -> bool:
    # Not `== True`: 1 == True in Python. "true" is how API Gateway's authorizer passes it on.
    return value is True or value == "true"


# Stripe refuses a customer whose name is longer or whose email is longer or not an address;
# a user's own profile must never make their first click fail.
NAME_MAX = 256
EMAIL_MAX = 512
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def customer_fields(claims: dict[str, Any]) -> dict[str, str]:
    """What a new Stripe customer takes from the user's claims: email and name, when usable.

    The email only when `email_verified` is absent or true: invoices and receipts go there.
    """
    fields: dict[str, str] = {}
    email, name = _text(claims.get("email")), _text(claims.get("name"))
    proven = "email_verified" not in claims or _is_true(claims["email_verified"])
    if proven and len(email) <= EMAIL_MAX and EMAIL.fullmatch(email):
        fields["email"] = email
    if name:
        fields["name"] = name[:NAME_MAX]
    return fields


def _text(value: object) -> str:
    """The claim's text, or "" when it is not a string Stripe could be sent (a lone surrogate)."""
    return value.strip() if isinstance(value, str) and is_text(value) else ""
