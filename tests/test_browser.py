"""A real browser (Debian's Chromium, driven by Playwright) clicks through the demo page of the
local server: Billing lands on the portal; a hostile return_url shows the error."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from local.server import DevServer
from testing.fake_stripe import PORTAL_PAGE_TITLE, FakeStripe

try:
    from playwright.sync_api import Browser, Page, Playwright, sync_playwright
except ImportError:
    pytest.skip(
        "browser tests need Playwright: `python3 -m uv sync` installs it (a dev dependency)",
        allow_module_level=True,
    )

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` (as .ci/run does) "
        "or set CHROMIUM to a Chromium binary",
        allow_module_level=True,
    )

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)  # the stand-in, whatever the shell has
        # Its own sink for request lines: the browser may ask for more (a favicon) at any time,
        # and a server thread must not print into a test's output capture as it is torn down.
        with DevServer(port=0, out=io.StringIO()) as running:
            yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def stand_in(server: DevServer) -> FakeStripe:
    assert server.stripe is not None
    return server.stripe


def test_billing_button_lands_on_the_portal_and_return_comes_back(
    server: DevServer, page: Page
) -> None:
    page.goto(server.url)

    page.get_by_role("button", name="Billing", exact=True).click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert page.title() == PORTAL_PAGE_TITLE
    assert page.get_by_role("heading", level=1).inner_text() == PORTAL_PAGE_TITLE
    assert server.customer_id in page.content()
    # The portal's return link is the form's return_url: the demo page.
    page.get_by_role("link", name="Return").click()
    page.wait_for_url(server.url)
    assert page.get_by_role("button", name="Billing", exact=True).is_visible()


def test_fetch_button_in_json_mode_lands_on_the_portal(server: DevServer, page: Page) -> None:
    page.goto(server.url)

    with page.expect_response(f"{server.url}billing/portal") as answer:
        page.get_by_role("button", name="Billing (fetch)").click()

    assert answer.value.status == 200
    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert page.title() == PORTAL_PAGE_TITLE


def test_hostile_return_url_shows_the_error(server: DevServer, page: Page) -> None:
    page.goto(server.url)
    sessions_before = len(stand_in(server).sessions)

    with page.expect_navigation() as navigation:
        page.get_by_role("link", name="returning to evil.example").click()

    response = navigation.value
    assert response is not None
    assert response.status == 400
    assert page.url.startswith(f"{server.url}billing/portal?return_url=")
    shown: dict[str, Any] = json.loads(page.locator("body").inner_text())
    assert shown["type"].endswith("/invalid-parameter")
    assert [error["parameter"] for error in shown["errors"]] == ["return_url"]
    assert len(stand_in(server).sessions) == sessions_before  # Stripe never heard of it


@pytest.mark.parametrize(
    ("button", "flow"),
    [
        ("Update payment method", "payment_method_update"),
        ("Cancel subscription", "subscription_cancel"),
        ("Change plan", "subscription_update"),
        ("Switch to price_pro", "subscription_update_confirm"),
        ("Pause subscription", "subscription_pause"),
        ("Edit billing details", "customer_update"),
    ],
)
def test_each_flow_button_lands_on_the_portal_in_that_flow(
    server: DevServer, page: Page, button: str, flow: str
) -> None:
    page.goto(server.url)

    page.get_by_role("button", name=button, exact=True).click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert page.title() == PORTAL_PAGE_TITLE
    assert flow in page.locator("body").inner_text()


def shown_fields(page: Page) -> dict[str, str]:
    """The portal page's fields as the reader sees them: each <dt> with the <dd> after it."""
    pairs: list[list[str]] = page.locator("dl dt").evaluate_all(
        "dts => dts.map(dt => [dt.innerText, dt.nextElementSibling.innerText])"
    )
    return dict(pairs)


def test_portal_page_shows_the_flow_the_button_asked_for(server: DevServer, page: Page) -> None:
    page.goto(server.url)

    page.get_by_role("button", name="Switch to price_pro", exact=True).click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    (subscription,) = stand_in(server).subscriptions  # the demo user's one subscription
    shown = shown_fields(page)
    assert shown["Customer"] == server.customer_id
    assert shown["Flow"] == "subscription_update_confirm"
    assert shown["Subscription"] == subscription
    assert shown["Price"] == "price_pro"
    assert shown["Return URL"] == server.url
    assert shown["Configuration"].startswith("bpc_")


def test_pages_load_without_console_errors(server: DevServer, playwright: Playwright) -> None:
    """No red in the console: not even a 404 for /favicon.ico, on the demo page or the portal."""
    # A browser of its own: Chromium asks for a site's favicon once per browser, and remembers
    # the 404 across contexts.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(f"{m.location['url']}: {m.text}") if m.type == "error" else None
            ),
        )

        page.goto(server.url, wait_until="networkidle")
        page.get_by_role("button", name="Billing", exact=True).click()
        page.wait_for_url(f"{stand_in(server).url}/p/session/*", wait_until="networkidle")
    finally:
        browser.close()

    assert problems == []
