"""A user's billing identity at Stripe, as the customers table holds it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Whole values only (fullmatch): "cus_X\n" or "cus_X&customer=cus_Y" must never reach Stripe.
CUSTOMER_ID = re.compile(r"(cus|acct)_[A-Za-z0-9]+")
CONFIGURATION_ID = re.compile(r"bpc_[A-Za-z0-9]+")
ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9]+")


@dataclass(frozen=True)
class Customer:
    id: str
    configuration: str | None = None
    on_behalf_of: str | None = None

    @property
    def param(self) -> str:
        """The parameter naming this customer: Accounts v2 ids go in customer_account."""
        return "customer_account" if self.id.startswith("acct_") else "customer"


def is_customer_id(value: str) -> bool:
    return CUSTOMER_ID.fullmatch(value) is not None


# What each field must hold, and how to say so.
SHAPES = {
    "id": (CUSTOMER_ID, "a cus_ or acct_ id"),
    "configuration": (CONFIGURATION_ID, "a bpc_ id"),
    "on_behalf_of": (ACCOUNT_ID, "an acct_ id"),
}


def invalid_field(customer: Customer) -> tuple[str, str] | None:
    """(field, what it must hold) for the first field whose value has the wrong shape, or None."""
    for name, (pattern, expected) in SHAPES.items():
        value = getattr(customer, name)
        if value is not None and pattern.fullmatch(value) is None:
            return name, expected
    return None
