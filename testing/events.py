"""API Gateway HTTP API (payload 2.0) events: the real ones in events/, changed as a test says."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from testing.harness import EVENTS


@cache
def _stored(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def event(
    name: str = "home",
    *,
    method: str | None = None,
    query: str | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    claims: dict[str, Any] | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """events/<name>.json with the given changes (a fresh copy each time)."""
    data = copy.deepcopy(_stored(name))
    if method is not None:
        data["requestContext"]["http"]["method"] = method
        data["routeKey"] = data["requestContext"]["routeKey"] = f"{method} /billing/portal"
    if query is not None:
        data["rawQueryString"] = query
    if headers is not None:
        data["headers"].update(headers)
    if body is not None:
        data["body"] = body
    if base64:
        data["isBase64Encoded"] = True
    if claims is not None:
        data["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return data
