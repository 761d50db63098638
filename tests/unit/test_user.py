"""A new Stripe customer's fields from the user's claims: never what Stripe would refuse."""

from __future__ import annotations

import re
from typing import Any

import pytest

from billing_portal.domain.user import User, customer_fields, verification_claim

LONG_LOCAL = "a" * (512 - len("@example.com"))  # with the domain: exactly 512 characters


@pytest.mark.parametrize(
    ("claims", "fields"),
    [
        ({}, {}),
        ({"email": "ada@example.com", "name": "Ada"}, {"email": "ada@example.com", "name": "Ada"}),
        (
            {"email": "  ada@example.com\n", "name": " Ada "},
            {"email": "ada@example.com", "name": "Ada"},
        ),
        ({"name": "x" * 256}, {"name": "x" * 256}),
        ({"name": "x" * 300}, {"name": "x" * 256}),
        ({"name": " " * 10 + "y" * 300}, {"name": "y" * 256}),
        ({"email": f"{LONG_LOCAL}@example.com"}, {"email": f"{LONG_LOCAL}@example.com"}),
        ({"email": f"{LONG_LOCAL}a@example.com"}, {}),
        ({"email": "not-an-address"}, {}),
        ({"email": "ada@localhost"}, {}),
        ({"email": "ada@example."}, {}),
        ({"email": "a da@example.com"}, {}),
        ({"email": "ada@@example.com"}, {}),
        ({"email": "ada@example.com", "name": "   "}, {"email": "ada@example.com"}),
        ({"email": ["ada@example.com"], "name": 42}, {}),
        ({"email": None, "name": {"first": "Ada"}}, {}),
        ({"email": True, "name": "Ada"}, {"name": "Ada"}),
        ({"email": "ada@example.com", "email_verified": True}, {"email": "ada@example.com"}),
        ({"email": "ada@example.com", "email_verified": "true"}, {"email": "ada@example.com"}),
        ({"email": "ada@example.com", "email_verified": False, "name": "Ada"}, {"name": "Ada"}),
        ({"email": "ada@example.com", "email_verified": "false"}, {}),
        ({"email": "ada@example.com", "email_verified": None}, {}),
        ({"email": "ada@example.com", "email_verified": 1}, {}),
    ],
)
def test_only_usable_claims_become_customer_fields(
    claims: dict[str, Any], fields: dict[str, str]
) -> None:
    assert customer_fields(claims) == fields


def test_other_claims_never_reach_the_customer() -> None:
    claims = {"sub": "user-1", "phone_number": "+15550100", "email": "ada@example.com"}

    assert customer_fields(claims) == {"email": "ada@example.com"}


def test_logs_get_a_pseudonym_that_needs_the_deployments_salt() -> None:
    user = User("ada@example.com", {"name": "Ada"})

    assert user.pseudonym(b"salt-1") == User("ada@example.com", {}).pseudonym(b"salt-1")
    assert user.pseudonym(b"salt-1") != user.pseudonym(b"salt-2")
    assert user.pseudonym(b"salt-1") != User("bob@example.com", {}).pseudonym(b"salt-1")
    assert re.fullmatch("[0-9a-f]{16}", user.pseudonym(b"salt-1"))
    assert "Ada" not in repr(user)  # claims stay out of reprs (and so out of tracebacks)


@pytest.mark.parametrize(
    ("key_claim", "claims", "flag"),
    [
        ("sub", {}, None),
        ("org_id", {}, None),
        ("email", {}, "email_verified"),
        ("https://example.com/email", {}, "email_verified"),
        (
            "https://example.com/email",
            {"https://example.com/email_verified": False},
            "https://example.com/email_verified",
        ),
        ("user.email", {"user": {"email_verified": True}}, "user.email_verified"),
        ("user.email", {"user": {}}, "email_verified"),
        ("Work_Email", {}, "email_verified"),
        ("phone_number", {}, "phone_number_verified"),
        ("https://example.com/phone_number", {}, "phone_number_verified"),
    ],
)
def test_a_key_the_user_can_edit_names_the_claim_that_must_prove_it(
    key_claim: str, claims: dict[str, Any], flag: str | None
) -> None:
    assert verification_claim(claims, key_claim) == flag
