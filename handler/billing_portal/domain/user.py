"""The signed-in user: the key that finds their billing account, and the claims it came with."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    key: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def key_hash(self) -> str:
        """What logs carry instead of the user key (a stable, non-reversible reference)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


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
    return value.strip() if isinstance(value, str) else ""
