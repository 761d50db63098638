"""A real browser (Debian's Chromium, driven by Playwright) clicks through the demo page of the
local server: Billing lands on the portal; a hostile return_url shows the error. Beside it, your
own page on another origin (the docs' recipe) uses local/billing.js against the same server."""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from local.server import DevServer
from testing.browser import launch, missing
from testing.fake_stripe import PORTAL_PAGE_TITLE, FakeStripe
from testing.harness import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright

if reason := missing():
    pytest.skip(reason, allow_module_level=True)


class OwnPage(ThreadingHTTPServer):
    """Your own dev server on another port, serving the docs' recipe page."""

    daemon_threads = True
    html = b""
    # Your app's other files, by path: /billing.js is local/billing.js copied unchanged.
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.server_address[1]}"


class _OwnPageHandler(BaseHTTPRequestHandler):
    server: OwnPage

    def do_GET(self) -> None:
        files = {"/": ("text/html; charset=utf-8", self.server.html), **self.server.files}
        content_type, body = files.get(self.path.split("?")[0], ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def recipe_page() -> str:
    """The page docs/development.md tells you to write, calling the server on port 3000."""
    docs = (ROOT / "docs" / "development.md").read_text()
    section = docs.split("### Your own page against the local server", 1)[1]
    found = re.search(r"```html\n(.*?)```", section, re.S)
    assert found, "docs/development.md lost its own-page recipe"
    return found.group(1)


@pytest.fixture(scope="module")
def own_page() -> Iterator[OwnPage]:
    with OwnPage(("127.0.0.1", 0), _OwnPageHandler) as running:
        thread = threading.Thread(target=running.serve_forever, daemon=True)
        thread.start()
        yield running
        running.shutdown()


@pytest.fixture(scope="module")
def server(own_page: OwnPage) -> Iterator[DevServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)  # the stand-in, whatever the shell has
        patch.setenv("ALLOWED_ORIGINS", own_page.origin)  # the docs' recipe
        # Its own sink for request lines: the browser may ask for more (a favicon) at any time,
        # and a server thread must not print into a test's output capture as it is torn down.
        with DevServer(port=0, out=io.StringIO()) as running:
            own_page.html = recipe_page().replace("localhost:3000", f"localhost:{running.port}")
            own_page.html = own_page.html.encode()
            own_page.files = {
                "/billing.js": ("text/javascript", (ROOT / "local" / "billing.js").read_bytes()),
                "/app.html": ("text/html; charset=utf-8", app_page(running).encode()),
            }
            yield running


def app_page(server: DevServer, endpoint: str | None = None) -> str:
    """Your app's page as the README says: local/billing.js copied beside it, imported as
    ./billing.js, the README's snippet pointed at the local server (or at `endpoint`)."""
    endpoint = endpoint or f"http://localhost:{server.port}/billing/portal"
    return f"""<!doctype html><title>Your app</title>
<button id="billing">Billing</button><p id="billing-error" role="alert"></p>
<script type="module">
  import {{ openBillingPortal }} from "./billing.js";
  const endpoint = new URLSearchParams(location.search).get("api") ?? {json.dumps(endpoint)};
  document.getElementById("billing").addEventListener("click", () =>
    openBillingPortal(endpoint)
      .catch((e) => {{ document.getElementById("billing-error").textContent = e.message; }}));
</script>"""


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
    # A page for people, not raw JSON: what happened, which parameter, and the way back.
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Billing could not open: invalid parameter"
    )
    assert page.get_by_role("listitem").inner_text() == (
        "return_url: origin 'https://evil.example' is not one of ALLOWED_ORIGINS"
    )
    assert len(stand_in(server).sessions) == sessions_before  # Stripe never heard of it
    page.get_by_role("link", name=re.compile("^Back to ")).click()
    page.wait_for_url(server.url)  # DEFAULT_RETURN_URL, not evil.example


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
    browser = launch(playwright)
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


# --- local/billing.js, on the demo page and on your own page ----------------------------------


def test_own_page_on_an_allowed_origin_lands_on_the_portal(
    server: DevServer, own_page: OwnPage, page: Page
) -> None:
    page.goto(f"{own_page.origin}/")

    page.get_by_role("button", name="Billing").click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert shown_fields(page)["Return URL"] == f"{own_page.origin}/"


def test_own_page_on_127_0_0_1_when_localhost_is_allowed_says_it_cannot_reach_billing(
    server: DevServer, own_page: OwnPage, page: Page
) -> None:
    mixed_up = own_page.origin.replace("localhost", "127.0.0.1")
    page.goto(f"{mixed_up}/")

    page.get_by_role("button", name="Billing").click()

    shown = page.get_by_role("alert")
    shown.get_by_text("Billing could not be reached").wait_for()
    assert shown.inner_text() == (
        "Billing could not be reached (offline, or this page's origin is not allowed)."
    )
    # The browser's preflight was refused, naming the origin (the problem's detail, which the
    # network panel shows; here: the server's line for it).
    assert isinstance(server.out, io.StringIO)
    assert "OPTIONS /billing/portal 403" in server.out.getvalue()
    assert "forbidden-origin" in server.out.getvalue().splitlines()[-1]


def test_billing_js_copied_into_your_app_lands_on_the_local_portal_without_the_fragment(
    server: DevServer, own_page: OwnPage, page: Page
) -> None:
    # The page's address carries a sign-in's fragment, as an implicit-flow redirect leaves it.
    page.goto(f"{own_page.origin}/app.html#access_token=from-the-fragment")
    sessions = len(stand_in(server).calls("POST", "/v1/billing_portal/sessions"))

    page.get_by_role("button", name="Billing").click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert page.title() == PORTAL_PAGE_TITLE
    assert shown_fields(page)["Return URL"] == f"{own_page.origin}/app.html"
    [created] = stand_in(server).calls("POST", "/v1/billing_portal/sessions")[sessions:]
    assert "from-the-fragment" not in created.raw


def _deployed_api(page: Page, session_url: str) -> None:
    """A deployed API (https://api.example.com) answering billing.js with `session_url`, and
    Stripe's portal page: the browser's own network stays out of it."""

    def api(route: Any) -> None:
        cors = {
            "Access-Control-Allow-Origin": route.request.headers.get("origin", "*"),
            "Access-Control-Allow-Headers": "authorization, content-type",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Credentials": "true",  # billing.js sends cookies without a token
        }
        if route.request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
        else:
            route.fulfill(status=200, headers=cors, json={"url": session_url})

    page.route("https://api.example.com/**", api)
    page.route(
        "https://billing.stripe.com/**",
        lambda route: route.fulfill(content_type="text/html", body="<title>Stripe portal</title>"),
    )


def test_billing_js_from_a_deployment_goes_to_stripes_portal(
    server: DevServer, own_page: OwnPage, page: Page
) -> None:
    _deployed_api(page, "https://billing.stripe.com/p/session/test_123")
    page.goto(f"{own_page.origin}/app.html?api=https://api.example.com/billing/portal")

    page.get_by_role("button", name="Billing").click()

    page.wait_for_url("https://billing.stripe.com/p/session/test_123")
    assert page.title() == "Stripe portal"


@pytest.mark.parametrize(
    "session_url",
    [
        "http://127.0.0.1:12111/p/session/test_123",  # the stand-in's, from a deployed API
        "http://localhost/p/session/test_123",
        "https://billing.stripe.com.evil.example/p/session/test_123",
        "javascript:alert(1)",
    ],
)
def test_billing_js_from_a_deployment_goes_nowhere_but_stripe(
    server: DevServer, own_page: OwnPage, page: Page, session_url: str
) -> None:
    _deployed_api(page, session_url)
    page.goto(f"{own_page.origin}/app.html?api=https://api.example.com/billing/portal")

    page.get_by_role("button", name="Billing").click()

    alert = page.get_by_role("alert")
    alert.get_by_text("unexpected address").wait_for()
    assert alert.inner_text() == "Billing answered with an unexpected address."
    assert page.url == f"{own_page.origin}/app.html?api=https://api.example.com/billing/portal"


def test_billing_js_waits_out_retry_after_once_then_says_billing_is_busy(
    server: DevServer, page: Page
) -> None:
    page.goto(server.url)
    # Stripe unavailable for two session requests, without SDK retries: two 503s, Retry-After 2.
    stand_in(server).fail_next(503, times=2, path_prefix="/v1/billing_portal", should_retry=False)
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if "/billing/portal" in r.url else None)

    page.get_by_role("button", name="Billing (fetch)").click()

    alert = page.get_by_role("alert")
    alert.get_by_text("Billing is busy").wait_for()
    assert alert.inner_text() == "Billing is busy right now: please try again in a moment."
    assert answers == [503, 503]  # the one retry after Retry-After, no more
    assert page.url == server.url


def test_billing_js_lands_on_the_portal_when_the_retry_succeeds(
    server: DevServer, page: Page
) -> None:
    page.goto(server.url)
    stand_in(server).fail_next(503, times=1, path_prefix="/v1/billing_portal", should_retry=False)

    page.get_by_role("button", name="Billing (fetch)").click()

    page.wait_for_url(f"{stand_in(server).url}/p/session/*")
    assert page.title() == PORTAL_PAGE_TITLE


# --- The auth modes, switched on the demo page ---------------------------------------------


@contextlib.contextmanager
def auth_mode(server: DevServer, page: Page, mode: str) -> Iterator[None]:
    """The demo page's mode button pressed; the server back in authorizer mode afterwards."""
    page.goto(server.url)
    page.get_by_role("button", name=mode, exact=True).click()
    page.wait_for_url(server.url)
    try:
        yield
    finally:
        server.use_auth("authorizer")


def test_authorizer_mode_answers_an_expired_token_with_api_gateways_own_401(
    server: DevServer, page: Page
) -> None:
    page.goto(server.url)
    assert "API Gateway's JWT authorizer" in page.locator("#auth-mode").inner_text()

    with page.expect_response(f"{server.url}billing/portal") as answer:
        page.get_by_role("button", name="Billing (fetch, expired token)").click()

    assert answer.value.status == 401
    assert answer.value.json() == {"message": "Unauthorized"}  # not the function's problem
    alert = page.get_by_role("alert")
    alert.get_by_text("expired").wait_for()
    assert alert.inner_text() == "Your session has expired: please sign in again."


def test_function_mode_verifies_the_bearer_token_and_refuses_the_tokenless_form(
    server: DevServer, page: Page
) -> None:
    with auth_mode(server, page, "function"):
        assert "verifies the bearer token itself" in page.locator("#auth-mode").inner_text()
        assert "the function answers 401" in page.locator("#form-note").inner_text()

        page.get_by_role("button", name="Billing", exact=True).click()
        page.wait_for_load_state()
        # The browser shows the error page: what happened and what to do.
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Billing could not open: authentication required"
        )
        assert "sign in again" in page.locator("main").inner_text()
        assert "unauthenticated, status 401" in page.locator(".ref").inner_text()

        page.goto(server.url)
        page.get_by_role("button", name="Billing (fetch)", exact=True).click()
        page.wait_for_url(f"{stand_in(server).url}/p/session/*")
        assert shown_fields(page)["Customer"] == server.customer_id


def test_cookie_mode_signs_in_with_a_cookie_and_then_the_plain_form_works(
    server: DevServer, page: Page
) -> None:
    with auth_mode(server, page, "cookie"):
        assert page.locator("#session").inner_text() == "not signed in: no cookie"
        # The top of the page agrees: nobody is signed in before the cookie is set.
        assert (
            page.locator("#who")
            .inner_text()
            .startswith(
                "Not signed in: Sign in below sets the cookie for demo-user (demo@example.com)."
            )
        )

        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(server.url)
        assert page.locator("#session").inner_text() == "signed in: the cookie is set"
        assert (
            page.locator("#who")
            .inner_text()
            .startswith("Signed in as demo-user (demo@example.com).")
        )
        (cookie,) = page.context.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("id_token", True, "Lax")

        page.get_by_role("button", name="Billing", exact=True).click()
        page.wait_for_url(f"{stand_in(server).url}/p/session/*")
        assert shown_fields(page)["Customer"] == server.customer_id
