"""The caller's raw parameters: the query string for GET, the body for POST."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from billing_portal.domain.request import PortalRequest, portal_request
from billing_portal.errors import InvalidParameter, UnsupportedMediaType


def parse_request(event: APIGatewayProxyEventV2, allowed_origins: frozenset[str]) -> PortalRequest:
    """The checked request, or InvalidParameter (400) / UnsupportedMediaType (415)."""
    return portal_request(read_params(event), allowed_origins)


def read_params(event: APIGatewayProxyEventV2) -> dict[str, Any]:
    if event.request_context.http.method == "GET":
        return _pairs_to_dict(parse_qsl(event.raw_query_string, keep_blank_values=True))
    body = event.decoded_body or ""
    media_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" or (not media_type and not body):
        return _pairs_to_dict(parse_qsl(body, keep_blank_values=True))
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise InvalidParameter.single("body", "is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidParameter.single("body", "must be a JSON object")
        return data
    raise UnsupportedMediaType(
        "Send parameters as application/x-www-form-urlencoded or application/json."
    )


def _pairs_to_dict(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidParameter.single(name, "is given more than once")
        params[name] = value
    return params
