"""The caller's raw parameters: the query string for GET, the body for POST."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from billing_portal.domain.request import PortalRequest, portal_request
from billing_portal.domain.urls import check_redirect_url
from billing_portal.errors import InvalidParameter, PayloadTooLarge, Problem, UnsupportedMediaType

MAX_BODY_BYTES = 16 * 1024
# The model knows 8 parameters; a caller sending many more is not a caller we can help.
MAX_PARAMETERS = 32
TOO_MANY = f"more than {MAX_PARAMETERS} parameters were sent"


def parse_request(event: APIGatewayProxyEventV2, allowed_origins: frozenset[str]) -> PortalRequest:
    """The checked request, or InvalidParameter (400) / PayloadTooLarge (413) /
    UnsupportedMediaType (415)."""
    return portal_request(read_params(event), allowed_origins)


def return_url_of(event: APIGatewayProxyEventV2, allowed_origins: frozenset[str]) -> str | None:
    """The request's return_url when it passes the same checks as for the portal, else None:
    for the error page's link back, whatever else was wrong with the request."""
    try:
        url = read_params(event).get("return_url")
        return check_redirect_url(url, allowed_origins) if isinstance(url, str) else None
    except (Problem, ValueError):
        return None


def read_params(event: APIGatewayProxyEventV2) -> dict[str, Any]:
    if event.request_context.http.method == "GET":
        # Absent (a hand-made or test event, a proxy that drops it): no parameters, not a 500.
        raw = event.get("rawQueryString")
        return _form(raw if isinstance(raw, str) else "", "query")
    body = _body(event)
    media_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" or (not media_type and not body):
        return _form(body, "body")
    if media_type == "application/json":
        return _json_object(body)
    raise UnsupportedMediaType(
        "Send parameters as application/x-www-form-urlencoded or application/json."
    )


def _body(event: APIGatewayProxyEventV2) -> str:
    """The body, refused (413) past MAX_BODY_BYTES before anything reads it whole."""
    raw = event.body or ""
    # base64 carries 3 bytes in 4 characters: a raw body this long cannot decode to less.
    if len(raw) > (MAX_BODY_BYTES * 4 // 3 + 4 if event.is_base64_encoded else MAX_BODY_BYTES):
        raise _too_large()
    try:
        body = event.decoded_body or ""
    except ValueError:  # bad base64, or bytes that are not UTF-8
        raise InvalidParameter.single("body", "is not UTF-8 text") from None
    if len(body.encode()) > MAX_BODY_BYTES:
        raise _too_large()
    return body


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body must be at most {MAX_BODY_BYTES // 1024} KiB.")


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except RecursionError:  # nested thousands deep: not a ValueError, and never a 500
        raise InvalidParameter.single("body", "must be one flat JSON object") from None
    except ValueError:
        raise InvalidParameter.single("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidParameter.single("body", "must be a JSON object")
    if len(data) > MAX_PARAMETERS:
        raise InvalidParameter.single("body", TOO_MANY)
    return data


def _form(text: str, source: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)
    except ValueError:  # parse_qsl's "Max number of fields exceeded"
        raise InvalidParameter.single(source, TOO_MANY) from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidParameter.single(name, "is given more than once")
        params[name] = value
    return params
