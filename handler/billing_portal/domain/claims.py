"""Reading claims: by name or by a path into nested claims, and as a list of values.

A name wins over a path, so namespaced claims (`https://example.com/org_id`) stay names; a name
with dots that no claim has exactly is a path (`o.id`, `realm_access.roles`).

API Gateway's HTTP API JWT authorizer hands the function every claim as a string: an array
becomes `"[a b c]"` (space-separated, in brackets) and an object becomes Go's `"map[k:v ...]"`,
which cannot be read back safely (a value may hold spaces or colons). Arrays are read back;
a path through an object the authorizer flattened finds nothing, and the caller says so.
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


def values(value: Any) -> list[str]:
    """A claim as a list of strings: a list's strings; a string split on whitespace (so `scope`
    works), the authorizer's `"[a b]"` form unwrapped first; nothing for anything else."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if not isinstance(value, str):
        return []
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return value.split()
