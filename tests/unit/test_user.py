"""A new Stripe customer's fields from the user's claims: never what Stripe would refuse."""

from __future__ import annotations

import re
from typing import Any

import pytest

from billing_portal.domain.user import User, customer_fields, verification_claim
from billing_portal.errors import InvalidToken

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


# --- keys of odd shapes -----------------------------------------------------------------------
# Characters no key may hold, by Unicode category: invisible or misleading in a table, a log or
# the Stripe dashboard ("user-1" and "user-1" + U+200B would be two accounts that look alike).
ODD_KEY_CHARACTERS = {
    "Cc: NUL": "\x00",
    "Cc: newline": "\n",
    "Cc: DEL": "\x7f",
    "Cc: C1 NEL": "\x85",
    "Cf: right-to-left override U+202E": "\u202e",
    "Cf: byte order mark U+FEFF": "\ufeff",
    "Cf: zero-width space U+200B": "\u200b",
    "Cf: zero-width joiner U+200D": "\u200d",
    "Cf: left-to-right isolate U+2066": "\u2066",
    "Cf: soft hyphen U+00AD": "\u00ad",
    "Cf: tag character U+E0041": "\U000e0041",
    "Zl: line separator U+2028": "\u2028",
    "Zp: paragraph separator U+2029": "\u2029",
    "Cs: lone surrogate": "\ud800",
}


@pytest.mark.parametrize("kind", list(ODD_KEY_CHARACTERS))
@pytest.mark.parametrize("where", ["user-", "-user", "us-er"])
def test_a_key_holding_an_odd_character_is_no_user(kind: str, where: str) -> None:
    key = where.replace("-", ODD_KEY_CHARACTERS[kind])

    with pytest.raises(InvalidToken):
        User.from_claims({"sub": key}, "sub")


@pytest.mark.parametrize("key", ["user é", "ユーザー", "user\u00a0name", "a+b@example.com"])
def test_keys_of_letters_and_spaces_in_any_script_are_users(key: str) -> None:
    assert User.from_claims({"sub": key}, "sub").key == key


# API Gateway's authorizer passes a list claim on as "[a b]": from it, such a key is a list.
FLATTENED_LISTS = ["[acme]", "[acme globex]", "[]", "[ ]", "[[acme]]", "[acme]]"]


@pytest.mark.parametrize("key", FLATTENED_LISTS)
def test_a_list_flattened_by_the_authorizer_is_no_key(key: str) -> None:
    with pytest.raises(InvalidToken, match="list"):
        User.from_claims({"org_id": key}, "org_id", from_authorizer=True)


@pytest.mark.parametrize("key", FLATTENED_LISTS)
def test_brackets_in_a_token_verified_here_are_the_key_itself(key: str) -> None:
    assert User.from_claims({"org_id": key}, "org_id").key == key


@pytest.mark.parametrize("key", ["[acme", "acme]", "a[cme]", "[acme] "])
def test_brackets_that_do_not_enclose_the_key_are_no_list(key: str) -> None:
    assert User.from_claims({"org_id": key}, "org_id", from_authorizer=True).key == key


# WS-Federation (AD FS, Entra ID's SAML-shaped tokens) names the email claim ".../emailaddress".
WS_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


@pytest.mark.parametrize(
    ("key_claim", "claims", "flag"),
    [
        (WS_EMAIL, {}, "email_verified"),
        ("emailaddress", {}, "email_verified"),
        ("EmailAddress", {}, "email_verified"),
        (WS_EMAIL, {WS_EMAIL + "_verified": False, "email_verified": True}, WS_EMAIL + "_verified"),
    ],
)
def test_a_claim_named_emailaddress_is_an_email_to_prove(
    key_claim: str, claims: dict[str, Any], flag: str
) -> None:
    assert verification_claim(claims, key_claim) == flag
    with pytest.raises(InvalidToken, match="not verified"):
        User.from_claims({**claims, key_claim: "victim@example.com"}, key_claim)
