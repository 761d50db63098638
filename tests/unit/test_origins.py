"""Origins as a browser reads them: which URLs we may redirect to, and which origins we accept in
ALLOWED_ORIGINS. The handler's side (a refused return_url is a 400 naming it, and Stripe is not
called; an accepted one is sent as the caller spelled it) is in tests/test_app.py."""

from __future__ import annotations

import re

import pytest

from billing_portal.domain.urls import check_redirect_url, origin_of, parse_origin


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://App.Example.COM/path?q=1#top", "https://app.example.com"),
        ("HTTPS://APP.EXAMPLE.COM", "https://app.example.com"),
        # the scheme's default port is no port at all, however it is written
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com:0443/", "https://app.example.com"),
        ("https://app.example.com:/", "https://app.example.com"),
        ("http://localhost:80/", "http://localhost"),
        # ...but another scheme's default port is a port
        ("https://localhost:80/", "https://localhost:80"),
        ("http://app.example.com:443/", "http://app.example.com:443"),
        ("https://app.example.com:8443/x", "https://app.example.com:8443"),
        ("https://app.example.com:65535", "https://app.example.com:65535"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example"),
        ("https://app.example.com/caf%C3%A9?next=%2F%2Fx", "https://app.example.com"),
    ],
)
def test_the_origin_is_scheme_lowercase_host_and_a_non_default_port(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://app.example.com/a\\b", "backslash"),
        ("https://user:secret@app.example.com/", "user information"),
        ("https://@app.example.com/", "user information"),
        ("https://app.example.com/\x1b[0m", "control characters"),
        ("https://app.example.com/\x7f", "control characters"),
        ("https://app.example.com/\u3000", "control characters"),  # ideographic space
        ("https://app.example.com:0/", "invalid port"),
        ("https://app.example.com:65536/", "invalid port"),
        ("https://app.example.com:https/", "plain host name"),
        ("https://app_example.com/", "plain host name"),
        ("https://xn--bcher-kva.example./", "end with a dot"),
        ("https://b\u00fccher.example/", "ASCII"),  # a browser would go to its xn-- form
        ("https://app.example.com/a%2Fb", "encoded slashes"),
        ("https://app.example.com/a%5Cb", "encoded slashes"),
        ("https://app.example.com/a/%2e%2E//evil.example", "segments"),
        ("ws://app.example.com/", "absolute https URL"),
        ("https://[::1/", "not a valid URL"),
    ],
)
def test_urls_a_browser_could_read_differently_have_no_origin(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        origin_of(url)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("  https://app.example.com  ", "https://app.example.com"),
        ("https://app.example.com:443/", "https://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://LOCALHOST", "http://localhost"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_a_configured_origin_is_stored_as_a_browser_sends_it(value: str, origin: str) -> None:
    assert parse_origin(value) == origin


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("app.example.com", "absolute https URL"),
        ("https://app.example.com.", "end with a dot"),
        ("https://b\u00fccher.example", "ASCII"),  # configure international names as xn--
        ("http://localhost.example.com", "must use https"),
        ("http://127.0.0.2:3000", "must use https"),
        ("http://app.example.com:3000", "must use https"),
        ("https://app.example.com/?tab=1", "not a bare origin"),
        ("https://app.example.com/#top", "not a bare origin"),
        ("https://user@app.example.com", "user information"),
    ],
)
def test_a_configured_origin_must_be_bare_and_https_unless_local(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_origin(value)


@pytest.mark.parametrize(
    ("configured", "url", "accepted"),
    [
        ("https://app.example.com:443", "https://app.example.com/x", True),
        ("https://app.example.com", "https://app.example.com:443/x", True),
        ("https://app.example.com:8443", "https://app.example.com:8443/x", True),
        ("https://app.example.com:8443", "https://app.example.com/x", False),
        ("http://localhost:3000", "https://localhost:3000/", False),
        ("http://localhost:3000", "http://localhost/", False),
        ("http://localhost", "http://localhost:80/x", True),
        ("http://localhost", "http://127.0.0.1/x", False),
        ("https://app.example.com", "https://www.app.example.com/", False),
        ("https://app.example.com", "https://example.com/", False),
    ],
)
def test_a_redirect_needs_exactly_a_configured_origin(
    configured: str, url: str, accepted: bool
) -> None:
    allowed = frozenset({parse_origin(configured)})

    if accepted:
        assert check_redirect_url(url, allowed) == url
    else:
        with pytest.raises(ValueError, match="ALLOWED_ORIGINS"):
            check_redirect_url(url, allowed)


def test_a_url_that_cannot_be_encoded_as_utf8_is_rejected() -> None:
    # JSON bodies may hold "\ud800"; Stripe's SDK then fails with UnicodeEncodeError (a 500).
    with pytest.raises(ValueError):
        check_redirect_url("https://app.example.com/\ud800", frozenset({"https://app.example.com"}))


DEMO_ALLOWED = frozenset({"https://app.example.com", "http://localhost:3000"})
# (hostile return_url, the rule that catches it), against the demo settings' ALLOWED_ORIGINS:
# "https://app.example.com,http://localhost:3000" (testing/harness.py).
HOSTILE_RETURN_URLS = [
    # userinfo: browsers go to the host after the @
    ("https://user@app.example.com/", "user information"),
    ("https://app.example.com@evil.example/", "user information"),
    ("https://app.example.com:443@evil.example/", "user information"),
    # relative and protocol-relative
    ("//evil.example/", "absolute https URL"),
    ("//app.example.com/account", "absolute https URL"),
    ("app.example.com/account", "absolute https URL"),
    ("/account", "absolute https URL"),
    ("https:/app.example.com/", "absolute https URL"),
    ("https:///app.example.com/", "must have a host"),
    ("", "absolute https URL"),
    # backslashes: browsers read \ as / in http(s) URLs
    ("/\\evil.example", "backslash"),
    ("https://evil.example\\@app.example.com/", "backslash"),
    ("https:\\\\evil.example", "backslash"),
    # schemes
    ("javascript:alert(document.cookie)", "absolute https URL"),
    ("JavaScript://app.example.com/%0aalert(1)", "absolute https URL"),
    ("data:text/html,<script>alert(1)</script>", "absolute https URL"),
    ("ftp://app.example.com/", "absolute https URL"),
    ("http://app.example.com/", "ALLOWED_ORIGINS"),
    # ports
    ("https://app.example.com:8443/", "ALLOWED_ORIGINS"),
    ("https://app.example.com:80/", "ALLOWED_ORIGINS"),
    ("http://localhost:3001/", "ALLOWED_ORIGINS"),
    ("https://app.example.com:+443/", "plain host name"),
    ("https://app.example.com:443:80/", "plain host name"),
    ("https://app.example.com:99999/", "invalid port"),
    # percent-encoding in the host, encoded slashes in the path
    ("https://app%2Eexample.com/", "percent-encoded"),
    ("https://evil.example%2F.app.example.com/", "percent-encoded"),
    ("https://app.example.com%40evil.example/", "percent-encoded"),
    ("https://app.example.com/%2F%2Fevil.example", "encoded slashes"),
    ("https://app.example.com/%5cevil.example", "encoded slashes"),
    ("https://app.example.com//evil.example/", "start with //"),
    # dot segments: a browser resolves them, and may land on another path, or host
    ("https://app.example.com/a/..//evil.example", "segments"),
    ("https://app.example.com/a/%2e%2e//evil.example", "segments"),
    ("https://app.example.com/a/.%2E//evil.example", "segments"),
    ("https://app.example.com/./x", "segments"),
    ("https://app.example.com/a/%2E/b", "segments"),
    # control characters and whitespace (browsers drop tabs and newlines before parsing)
    ("https://app.example.com/\r\nLocation: https://evil.example", "control characters"),
    ("https://app.example.com/\x00", "control characters"),
    ("https://app.exa\tmple.com/", "control characters"),
    (" https://app.example.com/", "control characters"),
    ("https://app.example.com /x", "control characters"),
    ("https://app.example.com/\u2028", "control characters"),
    ("https://app.example.com/\x85", "control characters"),
    # length
    ("https://app.example.com/" + "a" * 2048, "2048"),
    # Unicode dots, lookalikes and characters that normalise to URL delimiters
    ("https://app\u3002example.com/", "ASCII"),
    ("https://app\uff0eexample.com/", "ASCII"),
    ("https://\u0430pp.example.com/", "ASCII"),  # Cyrillic a
    ("https://\uff41\uff50\uff50.example.com/", "ASCII"),  # fullwidth "app"
    ("https://app.example.com\u200b/", "ASCII"),  # zero-width space
    ("https://app.example.com\uff0f@evil.example", "not a valid URL"),  # fullwidth solidus
    ("https://app.example.com\ufe6bevil.example", "not a valid URL"),  # small commercial at
    # trailing dots: another origin to a browser, whatever the case
    ("https://app.example.com./", "end with a dot"),
    ("https://APP.example.com./", "end with a dot"),
    # plainly elsewhere
    ("https://evil.example/", "ALLOWED_ORIGINS"),
    ("https://app.example.com.evil.example/", "ALLOWED_ORIGINS"),
    ("https://evil.example/https://app.example.com", "ALLOWED_ORIGINS"),
    ("https://evil.example#@app.example.com", "ALLOWED_ORIGINS"),
    ("https://evil.example?@app.example.com", "ALLOWED_ORIGINS"),
    ("http://127.0.0.1:3000/", "ALLOWED_ORIGINS"),
    ("https://[::1]/", "ALLOWED_ORIGINS"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE_RETURN_URLS)
def test_a_return_url_a_browser_could_take_elsewhere_is_refused_saying_why(
    url: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_redirect_url(url, DEMO_ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "https://APP.Example.COM/account",  # host case is not significant
        "HTTPS://app.example.com/",
        "https://app.example.com:443/x",
        "https://app.example.com:/x",  # empty port: the default, as browsers read it
        "https://app.example.com/done?next=https%3A%2F%2Fapp.example.com%2F",
        "https://app.example.com/caf%C3%A9",
        "http://localhost:3000/billing",
    ],
)
def test_a_return_url_on_an_allowed_origin_is_kept_as_spelled(url: str) -> None:
    assert check_redirect_url(url, DEMO_ALLOWED) == url
