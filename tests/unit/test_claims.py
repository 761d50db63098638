"""Claims by name or path, and claim values as lists, as the gate and the user key read them."""

from __future__ import annotations

from typing import Any

import pytest

from billing_portal.domain.claims import claim, flattened_object, values

NESTED = {
    "o": {"id": "org_1", "rol": "admin"},
    "realm_access": {"roles": ["a", "b"]},
    "https://example.com/org_id": "org_ns",
    "a.b": "the name wins",
    "a": {"b": "the path loses"},
}


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("o.id", "org_1"),
        ("realm_access.roles", ["a", "b"]),
        ("https://example.com/org_id", "org_ns"),  # a name with dots, present: a name
        ("a.b", "the name wins"),
        ("o.missing", None),
        ("o.id.deeper", None),
        ("sub", None),
        ("realm_access.roles.0", None),  # no indexing into lists
    ],
)
def test_a_name_wins_else_a_dotted_path_is_followed(name: str, found: Any) -> None:
    assert claim(NESTED, name) == found


@pytest.mark.parametrize(
    ("value", "name", "from_authorizer", "listed"),
    [
        (["admin", "member"], "roles", False, ["admin", "member"]),
        (["admin", 3, None], "roles", False, ["admin"]),
        (["Support Admin"], "roles", True, ["Support Admin"]),
        ("openid billing:manage", "scope", False, ["openid", "billing:manage"]),
        ("openid  billing:manage ", "scp", True, ["openid", "billing:manage"]),
        ("openid\u00a0admin", "scope", False, ["openid\u00a0admin"]),  # ASCII spaces only
        ("Support Admin", "roles", False, ["Support Admin"]),  # one role, whole
        ("Support Admin", "roles", True, ["Support Admin"]),
        ("[billing-admin member]", "roles", True, ["billing-admin", "member"]),  # API Gateway
        ("[billing-admin member]", "roles", False, ["[billing-admin member]"]),  # a token's own
        ("[a\u2003b]", "roles", True, ["a\u2003b"]),
        ("[]", "roles", True, []),
        ("admin", "roles", False, ["admin"]),
        ({"admin": True}, "roles", False, []),
        (None, "roles", True, []),
        (True, "roles", False, []),
    ],
)
def test_claim_values_are_whole_and_split_only_where_the_source_says(
    value: Any, name: str, from_authorizer: bool, listed: list[str]
) -> None:
    assert values(value, name, from_authorizer=from_authorizer) == listed


def test_a_path_through_an_object_the_authorizer_flattened_is_recognised() -> None:
    flattened = {"o": "map[id:org_1 rol:admin]", "org_id": "map[not an object, a name]"}

    assert flattened_object(flattened, "o.id")
    assert not flattened_object(flattened, "org_id")  # a name, present: taken as it is
    assert not flattened_object(NESTED, "o.id")
