"""Return URLs: only the exact allowed origins, parsed as a browser would."""

from __future__ import annotations

import pytest
from urls import check_redirect_url, parse_origin

ALLOWED = frozenset({"https://app.example.com", "http://localhost:3000"})


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com",
        "https://app.example.com/account?tab=billing#top",
        "https://APP.example.com/",
        "https://app.example.com:443/x",
        "http://localhost:3000/billing",
    ],
)
def test_urls_on_an_allowed_origin_pass(url: str) -> None:
    assert check_redirect_url(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://app.example.com.evil.example/",
        "https://evil.example/https://app.example.com",
        "http://app.example.com/",
        "https://app.example.com:8443/",
        "http://localhost:3001/",
        "/account",
        "//app.example.com/",
        "javascript:alert(1)",
        "https://app.example.com@evil.example/",
        "https://evil.example\\@app.example.com/",
        "https://app.example.com /x",
    ],
)
def test_urls_elsewhere_are_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        check_redirect_url(url, ALLOWED)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
    ],
)
def test_configured_origins_are_normalised(value: str, origin: str) -> None:
    assert parse_origin(value) == origin


@pytest.mark.parametrize(
    "value", ["http://app.example.com", "https://app.example.com/path", "app.example.com"]
)
def test_configured_origins_must_be_bare_and_https(value: str) -> None:
    with pytest.raises(ValueError):
        parse_origin(value)
