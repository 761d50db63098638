"""Team billing in a real browser: the local server signed in as a member of an organisation
(--org, --role). A member clicking Billing sees the 403 forbidden-role problem; an admin lands on
the organisation's portal. Its own module: each server here starts and stops its own moto."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from local.server import DevServer
from testing.browser import missing
from testing.fake_stripe import PORTAL_PAGE_TITLE

if TYPE_CHECKING:
    from playwright.sync_api import Page

if reason := missing():
    pytest.skip(reason, allow_module_level=True)


def click_billing(org: str, role: str, tab: Page) -> tuple[DevServer, str]:
    """Sign in as a `role` of `org`, click Billing; the server and where the browser ended."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)
        with DevServer(port=0, user=f"{role}-1", org=org, role=role, out=io.StringIO()) as server:
            tab.goto(server.url)
            # The page says who is signed in: the user, the role and the organisation.
            assert (
                tab.get_by_text("Signed in as")
                .inner_text()
                .startswith(
                    f"Signed in as {role}-1 (demo@example.com), {role} of organisation {org}."
                )
            )
            tab.get_by_role("button", name="Billing", exact=True).click()
            tab.wait_for_load_state()
            return server, tab.content()


def test_a_member_sees_the_forbidden_role_problem(page: Page) -> None:
    server, _ = click_billing("acme", "member", page)

    assert (
        "Only your organisation's billing admins can open billing"
        in page.locator("main").inner_text()
    )
    assert "forbidden-role, status 403" in page.locator(".ref").inner_text()
    assert server.customer_id is not None  # the organisation has a customer; he may not open it


def test_an_admin_lands_on_the_organisations_portal(page: Page) -> None:
    server, content = click_billing("acme", "admin", page)

    assert page.title() == PORTAL_PAGE_TITLE
    assert server.customer_id is not None and server.customer_id in content
