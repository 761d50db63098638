"""What API Gateway's HTTP API does around the function, for the local server: an HTTP request
becomes a payload-2.0 event (with the claims its JWT authorizer would pass on), and the function's
answer becomes an HTTP response. invoke_function is one call as the local runners make it."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_api_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    claims: dict[str, str] | None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event API Gateway would send for this request (payload format 2.0); `claims` None:
    no authorizer (the function verifies the token itself)."""
    parts = urlsplit(target)
    joined: dict[str, str] = {}
    for name, value in headers:
        # API Gateway lower-cases names and joins repeated headers with commas.
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    cookie_header = joined.pop("cookie", "")
    cookies = [c.strip() for c in cookie_header.split(";") if c.strip()]
    host = joined.get("host", "127.0.0.1")
    joined.update({"x-forwarded-for": source_ip, "x-forwarded-proto": "http"})
    request_id = str(uuid.uuid4())
    now = time.time()
    route_key = f"{method} {parts.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        params: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        event["queryStringParameters"] = params
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def http_response(result: dict[str, Any], request_id: str) -> HttpResponse:
    """The HTTP answer API Gateway makes of the function's payload-2.0 response."""
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers.extend(("Set-Cookie", cookie) for cookie in result.get("cookies") or [])
    headers.append(("Apigw-Requestid", request_id))
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return HttpResponse(int(result.get("statusCode", 200)), headers, raw)


def invoke_function(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any], context: Any
) -> dict[str, Any]:
    """One invocation of the function in this long-lived process (local/server.py, invoke.py).

    With POWERTOOLS_METRICS_DISABLED, powertools skips the flush that also clears the request's
    metrics and dimensions, so they would pile up from one call to the next (and warn that a
    dimension "has already been added"): they are cleared after every call, as a flush would.
    """
    try:
        return handler(event, context)
    finally:
        # Imported here: powertools reads POWERTOOLS_* when billing_portal creates its metrics.
        from billing_portal.observability import metrics

        metrics.clear_metrics()
