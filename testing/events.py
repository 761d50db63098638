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


# events/ hold a browser's Accept, which gets the HTML error page for a problem: tests read the
# problem itself (problem+json) as an API client asks for it, unless they set Accept themselves
# (BROWSER_ACCEPT: the error page, tests/test_error_page.py). A success is the same 303 for both.
API_CLIENT_ACCEPT = "*/*"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


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
    """events/<name>.json with the given changes (a fresh copy each time), asking for
    API_CLIENT_ACCEPT unless `headers` name an Accept."""
    data = copy.deepcopy(_stored(name))
    if data["headers"].get("accept", "").startswith("text/html"):
        data["headers"]["accept"] = API_CLIENT_ACCEPT
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
