"""HTTP answers: the portal redirect (or JSON for fetch), and RFC 9457 problems (or, for a
browser's navigation, the error redirect or page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.event_handler import Response

from billing_portal.errors import Problem
from billing_portal.web import error_page

NO_STORE = {"Cache-Control": "no-store"}
# On every answer (web/invocation.py adds it): a browser must take a problem+json body for what it
# says it is, never sniff it into HTML.
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff"}


def _preference(accept: str, media_type: str) -> tuple[float, int]:
    """(q, specificity) of media_type in an Accept header, by the most specific matching range."""
    kind = media_type.split("/")[0] + "/*"
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        range_, *options = (part.strip() for part in item.split(";"))
        specificity = {media_type: 2, kind: 1, "*/*": 0}.get(range_.lower())
        if specificity is None or specificity < best[0]:
            continue
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = (specificity, q)
    return best[1], best[0]


def prefers_json(accept: str | None) -> bool:
    """JSON only when asked for more than HTML: '*/*', no Accept and text/html get the redirect.

    On equal q, a type named outright beats one reached by a wildcard, so axios's
    "application/json, text/plain, */*" gets JSON.
    """
    if not accept:
        return False
    return _preference(accept, "application/json") > _preference(accept, "text/html")


def wants_html(accept: str | None) -> bool:
    """A browser navigation: HTML acceptable and JSON not preferred."""
    if not accept or prefers_json(accept):
        return False
    return _preference(accept, "text/html")[0] > 0


def wants_page(accept: str | None) -> bool:
    """A browser navigation that can show an error page: text/html named outright (every browser
    sends it for a form or a link; curl's */* does not) and JSON not preferred."""
    if not accept or prefers_json(accept):
        return False
    q, specificity = _preference(accept, "text/html")
    return specificity == 2 and q > 0


def portal_response(url: str, accept: str | None) -> Response:
    if prefers_json(accept):
        return Response(200, "application/json", json.dumps({"url": url}), dict(NO_STORE))
    return Response(303, None, "", {"Location": url, **NO_STORE})


def problem_response(
    problem: Problem,
    *,
    request_id: str,
    accept: str | None,
    error_redirect_url: str | None,
    back_url: Callable[[], str | None] = lambda: None,
) -> Response:
    """The problem as application/problem+json; for a browser's navigation, a 303 to
    ERROR_REDIRECT_URL, or without one a small HTML page (error_page.py) with the same status,
    linking back to `back_url()` (a checked return URL, worked out only for the page)."""
    if error_redirect_url and wants_html(accept):
        location = _with_query(error_redirect_url, {"error": problem.slug})
        return Response(303, None, "", {"Location": location, **NO_STORE})
    if wants_page(accept):
        page = error_page.render(problem, request_id=request_id, back_url=back_url())
        headers = {
            **problem.headers,
            **NO_STORE,
            "Content-Security-Policy": error_page.CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
        }
        return Response(problem.status, "text/html; charset=utf-8", page, headers)
    body: dict[str, object] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request_id,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return Response(
        problem.status,
        "application/problem+json",
        json.dumps(body),
        {**problem.headers, **NO_STORE},
    )


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(extra)]))
    return urlunsplit(parts._replace(query=query))
