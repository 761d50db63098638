"""A browser that navigated here (a form or a link, Accept text/html) and meets a problem gets a
small page saying what happened and what to do, with the problem's status, when
ERROR_REDIRECT_URL is not set; fetch callers and API clients keep application/problem+json."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest

from testing.events import BROWSER_ACCEPT
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, build_handler, problem
from testing.harness import LambdaContext

BROWSER = {"accept": BROWSER_ACCEPT}
FORM = {"content-type": "application/x-www-form-urlencoded", **BROWSER}
SESSIONS = "/v1/billing_portal/sessions"


class _Page(HTMLParser):
    """What a reader of the page gets: its text, its links, and any tag that could run code."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.active: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [value or "" for name, value in attrs if name == "href"]
        if tag in ("script", "iframe", "object", "embed", "form", "img") or any(
            name.startswith("on") for name, _ in attrs
        ):
            self.active.append(tag)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def page(response: dict[str, Any]) -> _Page:
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    csp = response["headers"]["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';")
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    parsed = _Page(response["body"])
    assert parsed.active == []
    return parsed


def test_a_form_with_a_foreign_return_url_gets_a_readable_400_page_linking_home(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    response = invoke("foreign-return-url", headers=BROWSER)

    shown = page(response)
    assert response["statusCode"] == 400
    text = " ".join(shown.text)
    assert "Billing could not open: invalid parameter" in text
    assert "Go back and try again" in text
    assert re.search(r"return_url : .*ALLOWED_ORIGINS", text)
    # The link back is the deployment's DEFAULT_RETURN_URL, never the refused address.
    assert shown.links == ["https://app.example.com/account"]
    assert fake_stripe.calls() == []


def test_the_link_back_is_the_forms_own_return_url_when_it_is_allowed(
    invoke: Invoke, dynamodb: object
) -> None:
    body = urlencode({"return_url": "https://app.example.com/settings?tab=billing"})

    response = invoke("form-post", body=body, headers=FORM, claims={"sub": "nobody"})

    assert response["statusCode"] == 404
    shown = page(response)
    assert "There is no billing account for you yet." in " ".join(shown.text)
    assert shown.links == ["https://app.example.com/settings?tab=billing"]


def test_a_link_without_a_session_gets_the_401_page_and_keeps_the_challenge(
    invoke: Invoke, dynamodb: object
) -> None:
    response = invoke("no-identity", headers=BROWSER)

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert "sign in again" in " ".join(page(response).text)


def test_a_busy_stripe_is_a_503_page_with_retry_after(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.fail_next(429, path_prefix=SESSIONS, retry_after=30)

    response = invoke("home", headers=BROWSER)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "30"
    assert "please try again in 30 seconds" in " ".join(page(response).text)


def test_a_token_the_page_was_sent_with_never_appears_on_it(invoke: Invoke, customer: str) -> None:
    secret = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"
    body = urlencode({"return_url": "https://evil.example/", "locale": secret})

    response = invoke("form-post", body=body, headers={**FORM, "authorization": secret})

    assert response["statusCode"] == 400
    page(response)
    assert "eyJ" not in response["body"]
    assert "c2lnbmF0dXJlLXNlY3JldA" not in response["body"]


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",  # billing.js's fetch
        "application/json, text/plain, */*",  # axios
        "*/*",  # curl
        None,  # a server-to-server call
    ],
)
def test_fetch_and_api_callers_keep_problem_json(
    invoke: Invoke, customer: str, accept: str | None
) -> None:
    response = invoke("foreign-return-url", headers={"accept": accept or ""})

    assert response["statusCode"] == 400
    assert problem(response)["type"].endswith("invalid-parameter")


def test_with_error_redirect_url_the_browser_is_sent_there_instead(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: object
) -> None:
    monkeypatch.setenv("ERROR_REDIRECT_URL", "https://app.example.com/billing-error")
    from testing.events import event

    response = build_handler()(event("foreign-return-url", headers=BROWSER), LambdaContext())

    assert response["statusCode"] == 303
    assert response["headers"]["Location"] == (
        "https://app.example.com/billing-error?error=invalid-parameter"
    )
