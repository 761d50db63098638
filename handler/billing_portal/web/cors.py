"""Cross-origin rules: CORS for the frontend origins, and the CSRF check for cookie sessions.

Both answer "may this web origin talk to us?" from ALLOWED_ORIGINS. Hand-written because
powertools' CORSConfig answers every preflight 204 (even from origins it does not allow) and
always allows X-Amz-* headers, while the contract wants a 403 and template.yaml allows exactly
the headers below. Behind API Gateway, the HttpApi's CORS settings in template.yaml (the same
values) answer preflights and replace these headers; these matter for function URLs and
`sam local`. Header names are looked up lower-case, as payload format 2.0 delivers them.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.event_handler import Response

from billing_portal.domain.urls import not_allowed, origin_of
from billing_portal.errors import ForbiddenOrigin

ALLOW_METHODS = "GET, POST"
ALLOW_HEADERS = "authorization, content-type"
MAX_AGE_SECONDS = "600"
# A fetch caller told 503 can only wait as long as Retry-After says if it may read it.
EXPOSE_HEADERS = "Retry-After"
# Sec-Fetch-Site values under which a request without Origin/Referer is not a cross-site forgery.
SAME_SITE_FETCHES = {"same-origin", "none"}


def response_headers(headers: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """CORS headers for an ordinary response: the caller's origin only when it is allowed."""
    origin = _allowed_origin(headers.get("origin"), allowed)
    cors = {"Vary": "Origin"}  # the answer depends on Origin; caches must not mix them up
    if origin:
        cors["Access-Control-Allow-Origin"] = origin
        cors["Access-Control-Allow-Credentials"] = "true"
        cors["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return cors


def preflight(headers: Mapping[str, str], allowed: frozenset[str]) -> Response:
    """204 with the CORS headers for an allowed origin; ForbiddenOrigin (403) for any other."""
    origin = _allowed_origin(headers.get("origin"), allowed)
    if origin is None:
        raise ForbiddenOrigin(
            f"{_refused(headers.get('origin'), allowed)}: it may not call this endpoint "
            "from a browser."
        )
    return Response(
        204,
        None,
        "",
        {
            **response_headers(headers, allowed),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
        },
    )


def check_cookie_request(headers: Mapping[str, str], allowed: frozenset[str]) -> None:
    """CSRF: a request authenticated by cookie must come from one of the allowed origins.

    The browser's own word wins: Sec-Fetch-Site "cross-site" is refused whatever the Origin.
    Otherwise the Origin (or the Referer's origin) must be allowed; with neither, the request is
    allowed only when Sec-Fetch-Site says it is not cross-origin or is absent (older browsers,
    non-browser clients, which cannot be made to send someone else's cookie).
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site == "cross-site":
        raise ForbiddenOrigin("Cross-site requests may not use the session cookie.")
    origin = headers.get("origin") or _referer_origin(headers.get("referer"))
    if origin is None:
        if fetch_site is None or fetch_site in SAME_SITE_FETCHES:
            return
        raise ForbiddenOrigin("A request using the session cookie must send its Origin.")
    if _allowed_origin(origin, allowed) is None:
        raise ForbiddenOrigin(f"{_refused(origin, allowed)}: it may not use the session cookie.")


def _allowed_origin(origin: str | None, allowed: frozenset[str]) -> str | None:
    # Browsers send the serialised origin; ALLOWED_ORIGINS holds the same form, so equality is
    # exact (no case folding, no default-port games) and "null" never matches.
    return origin if origin and origin in allowed else None


def _refused(origin: str | None, allowed: frozenset[str]) -> str:
    """The refused origin, named: what a developer needs to add to ALLOWED_ORIGINS. Only a
    well-formed origin is repeated back (a header is the caller's text)."""
    if not origin:
        return "A request without an Origin header"
    try:
        named = origin == "null" or origin_of(origin) == origin  # "null": file:// or sandboxed
    except ValueError:
        named = False
    if not named:
        return "An Origin header that is not an origin (scheme://host[:port])"
    message = not_allowed(origin, allowed)
    return message[0].upper() + message[1:]


def _referer_origin(referer: str | None) -> str | None:
    if not referer:
        return None
    try:
        return origin_of(referer)
    except ValueError:
        return "null"  # present but unparseable: treated as a foreign origin, not as absent
