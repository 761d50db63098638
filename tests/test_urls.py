"""Return URLs: only the exact allowed origins, parsed as a browser would."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from billing_portal.domain.urls import check_redirect_url, parse_origin
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, problem

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
    "value",
    [
        "http://app.example.com",
        "https://app.example.com/path",
        "app.example.com",
        "https://app.example.com.",
        "https://b\u00fccher.example",  # configure international names in their xn-- form
    ],
)
def test_configured_origins_must_be_bare_ascii_and_https(value: str) -> None:
    with pytest.raises(ValueError):
        parse_origin(value)


# (hostile return_url, the rule that catches it). ALLOWED_ORIGINS in the handler tests is
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
    # control characters and whitespace (browsers drop tabs and newlines before parsing)
    ("https://app.example.com/\r\nLocation: https://evil.example", "control characters"),
    ("https://app.example.com/\x00", "control characters"),
    ("https://app.exa\tmple.com/", "control characters"),
    (" https://app.example.com/", "control characters"),
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
    ("https://app.example.com.evil.example/", "ALLOWED_ORIGINS"),
    ("https://evil.example/https://app.example.com", "ALLOWED_ORIGINS"),
    ("https://evil.example#@app.example.com", "ALLOWED_ORIGINS"),
    ("https://evil.example?@app.example.com", "ALLOWED_ORIGINS"),
    ("http://127.0.0.1:3000/", "ALLOWED_ORIGINS"),
    ("https://[::1]/", "ALLOWED_ORIGINS"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE_RETURN_URLS)
def test_hostile_return_urls_are_400s_with_no_stripe_call(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, url: str, reason: str
) -> None:
    response = invoke("home", query=urlencode({"return_url": url}))

    assert response["statusCode"] == 400
    [error] = problem(response)["errors"]
    assert error["parameter"] == "return_url"
    assert reason in error["detail"]
    assert fake_stripe.calls() == []


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
def test_return_urls_on_an_allowed_origin_are_sent_unchanged(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, url: str
) -> None:
    response = invoke("home", query=urlencode({"return_url": url}))

    assert response["statusCode"] == 303
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params["return_url"] == url
