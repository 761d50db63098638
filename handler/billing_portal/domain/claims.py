"""Reading claims: by name or by a path into nested claims, and as a list of values.

A name wins over a path, so namespaced claims (`https://example.com/org_id`) stay names; a name
with dots that no claim has exactly is a path (`o.id`, `realm_access.roles`).

API Gateway's HTTP API JWT authorizer hands the function every claim as a string: an array
becomes `"[a b c]"` (space-separated, in brackets) and an object becomes Go's `"map[k:v ...]"`,
which cannot be read back safely (a value may hold spaces or colons). Arrays are read back
(so an item holding a space cannot be told from two items there); a path through an object the
authorizer flattened finds nothing, and the caller says so.
"""

from __future__ import annotations

from typing import Any

FLATTENED_OBJECT = "map["


def claim(claims: dict[str, Any], name: str) -> Any:
    """The claim called `name`, else the value at the dotted path `name`; None when absent."""
    if name in claims or "." not in name:
        return claims.get(name)
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def flattened_object(claims: dict[str, Any], name: str) -> bool:
    """True when `name` is a path through an object claim the authorizer turned into text."""
    head = name.split(".", 1)[0]
    value = claims.get(head)
    return name not in claims and isinstance(value, str) and value.startswith(FLATTENED_OBJECT)


# Claims that are space-separated lists by definition (OAuth 2.0 scope, RFC 8693 / Entra ID scp).
SPACE_SEPARATED = frozenset({"scope", "scp"})


def values(value: Any, name: str, *, from_authorizer: bool) -> list[str]:
    """The claim `name` as a list of whole values, read by where it came from.

    A list's strings are its values. A string is one value, except a `scope`/`scp` claim, and,
    from API Gateway's authorizer only, its `"[a b]"` text for an array: those are split on the
    ASCII space alone (never another Unicode space), so "Support Admin" is never "Admin".
    """
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if not isinstance(value, str):
        return []
    if from_authorizer and value.startswith("[") and value.endswith("]"):
        return _split_spaces(value[1:-1])
    if name in SPACE_SEPARATED:
        return _split_spaces(value)
    return [value]


def _split_spaces(text: str) -> list[str]:
    return [part for part in text.split(" ") if part]
