"""The signed-in user: the key that finds their billing account, and the claims it came with."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from billing_portal.domain.claims import claim, flattened_object, values
from billing_portal.domain.urls import is_text
from billing_portal.errors import ForbiddenRole, InvalidToken

# Claims a user can edit themselves (many identity providers let users change their email):
# such a claim is a key only when the provider says it verified the value.
VERIFIED_BY = {"email": "email_verified"}


@dataclass(frozen=True)
class User:
    key: str
    claims: dict[str, Any] = field(repr=False)

    @classmethod
    def from_claims(cls, claims: dict[str, Any], key_claim: str) -> User:
        """The user (or team) whose key is the `key_claim` claim (a name or a path), or
        InvalidToken (401) saying why not."""
        key = claim(claims, key_claim)
        if flattened_object(claims, key_claim):
            raise InvalidToken(
                f"The '{key_claim}' claim is inside an object claim that API Gateway's authorizer "
                "passes on as text; verify tokens in the function or emit a flat claim."
            )
        if not isinstance(key, str) or not key:
            raise InvalidToken(f"The token has no '{key_claim}' claim.")
        flag = VERIFIED_BY.get(key_claim)
        verified = claims.get(flag) if flag is not None else True
        if verified is not True and verified != "true":  # not 1: True == 1 in Python
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


# Stripe refuses a customer whose name is longer or whose email is longer or not an address;
# a user's own profile must never make their first click fail.
NAME_MAX = 256
EMAIL_MAX = 512
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def customer_fields(claims: dict[str, Any]) -> dict[str, str]:
    """What a new Stripe customer takes from the user's claims: email and name, when usable."""
    fields: dict[str, str] = {}
    email, name = _text(claims.get("email")), _text(claims.get("name"))
    if len(email) <= EMAIL_MAX and EMAIL.fullmatch(email):
        fields["email"] = email
    if name:
        fields["name"] = name[:NAME_MAX]
    return fields


def _text(value: object) -> str:
    """The claim's text, or "" when it is not a string Stripe could be sent (a lone surrogate)."""
    return value.strip() if isinstance(value, str) and is_text(value) else ""
