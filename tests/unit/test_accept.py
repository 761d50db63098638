"""Content negotiation: JSON only for clients that ask for it more than for HTML, and the error
page redirect only for browser navigations."""

from __future__ import annotations

import pytest

from billing_portal.web.responses import prefers_json, wants_html, wants_page


@pytest.mark.parametrize(
    ("accept", "json_wanted"),
    [
        (None, False),
        ("*/*", False),
        ("text/html", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json", True),
        ("application/json, text/plain, */*", True),
        ("text/html;q=0.5, application/json", True),
        ("application/json;q=0.5, text/html", False),
        ("application/*", True),
        ("text/html, application/json", False),
    ],
)
def test_json_only_when_preferred_over_html(accept: str | None, json_wanted: bool) -> None:
    assert prefers_json(accept) is json_wanted


@pytest.mark.parametrize(
    ("accept", "navigation"),
    [
        (None, False),  # curl, server-to-server: a problem+json body, not a redirect
        ("", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("*/*", True),
        ("text/*", True),
        ("application/json", False),
        ("application/json, text/plain, */*", False),
        ("text/html;q=0", False),
        ("text/html;q=0, */*", False),  # the most specific range decides
        ("image/png", False),
        ("application/problem+json", False),
    ],
)
def test_only_a_browser_navigation_gets_the_error_page(
    accept: str | None, navigation: bool
) -> None:
    assert wants_html(accept) is navigation


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chrome
        ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", True),
        ("text/html", True),
        ("*/*", False),  # curl: the problem+json it can read
        ("text/*", False),
        (None, False),
        ("", False),
        ("application/json", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
    ],
)
def test_only_a_request_naming_html_gets_the_error_page(accept: str | None, page: bool) -> None:
    assert wants_page(accept) is page
