"""The local server (local/server.py) over real HTTP: its demo page, and the real handler behind
/billing/portal with moto's server and the Stripe stand-in."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.server import (
    SNIPPET_API,
    SNIPPET_RETURN_URL,
    DevServer,
    LocalServerError,
    main,
    port_number,
)
from testing.fake_stripe import PORTAL_PAGE_TITLE, FakeStripe
from testing.harness import ROOT
from tools import link_customer

PROBLEM = "tag:billing-portal,2026:problem/"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # hand the 3xx back to the test as it is


OPENER = urllib.request.build_opener(_NoRedirects)


def request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with OPENER.open(req, timeout=10) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def form_post(server: DevServer, **fields: str) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": BROWSER_ACCEPT}
    return request(f"{server.url}billing/portal", body, headers)


def stand_in(server: DevServer) -> FakeStripe:
    assert server.stripe is not None
    return server.stripe


@pytest.fixture(scope="class")
def server() -> Iterator[DevServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)  # the stand-in, whatever the shell has
        # Its own sink for request lines, so that no server thread prints into the output
        # capture of a test being torn down.
        with DevServer(port=0, out=io.StringIO()) as running:
            yield running


class TestDemoServer:
    """One server for these tests (moto holds one set of tables per process, so the tests below
    start their own servers after this one has stopped)."""

    def test_get_root_serves_the_demo_page_with_a_billing_form(self, server: DevServer) -> None:
        status, headers, body = request(server.url)

        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        page = body.decode()
        assert f'<form method="POST" action="{server.url}billing/portal">' in page
        assert f'name="return_url" value="{server.url}"' in page
        assert "<button>Billing</button>" in page

    def test_demo_page_uses_the_readme_frontend_snippets(self, server: DevServer) -> None:
        """What a user copies from the README is exactly what the demo page runs."""
        readme = (ROOT / "README.md").read_text()
        frontend = readme.split("## Using it from a frontend", 1)[1]
        form = re.search(r"```html\n(.*?)```", frontend, re.S)
        script = re.search(r"```js\n(.*?)```", frontend, re.S)
        assert form and script, "the README's frontend section lost its html/js snippets"
        origin = server.url.rstrip("/")

        page = request(server.url)[2].decode()

        def here(snippet: str) -> str:
            return snippet.replace(SNIPPET_API, origin).replace(SNIPPET_RETURN_URL, server.url)

        assert here(form.group(1)) in page
        assert textwrap.indent(here(script.group(1)), "  ") in page

    def test_billing_form_post_answers_303_to_the_stand_in_portal(self, server: DevServer) -> None:
        status, headers, _ = form_post(server, return_url=server.url)

        assert status == 303
        assert headers["Cache-Control"] == "no-store"
        portal = headers["Location"]
        assert portal.startswith(f"{stand_in(server).url}/p/session/")
        # The session is the signed-in demo user's, and its return link comes back to the page.
        session = list(stand_in(server).sessions.values())[-1]
        assert session["customer"] == server.customer_id
        assert session["return_url"] == server.url
        page_status, _, page = request(portal)
        assert page_status == 200
        assert f"<title>{PORTAL_PAGE_TITLE}</title>" in page.decode()
        # The terminal's line for it, written before the answer went out.
        assert isinstance(server.out, io.StringIO)
        lines = server.out.getvalue().splitlines()
        printed = [m.groupdict() for m in map(REQUEST_LINE.fullmatch, lines) if m]
        assert printed[-1] == {
            "method": "POST",
            "path": "/billing/portal",
            "status": "303",
            "problem": None,
        }

    def test_fetch_in_json_mode_gets_the_portal_url(self, server: DevServer) -> None:
        body = json.dumps({"return_url": f"http://localhost:{server.port}/account"}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}

        status, response_headers, answer = request(f"{server.url}billing/portal", body, headers)

        assert status == 200
        assert response_headers["Content-Type"] == "application/json"
        assert json.loads(answer)["url"].startswith(f"{stand_in(server).url}/p/session/")

    def test_hostile_return_url_gets_the_400_problem(self, server: DevServer) -> None:
        status, headers, body = request(
            f"{server.url}billing/portal?return_url=https://evil.example/",
            headers={"Accept": "application/json"},
        )

        assert status == 400
        assert headers["Content-Type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["type"] == PROBLEM + "invalid-parameter"
        assert [e["parameter"] for e in problem["errors"]] == ["return_url"]
        assert problem["instance"] == headers["Apigw-Requestid"]

    def test_the_hostile_link_in_a_browser_gets_a_page_back_to_the_app_not_evil(
        self, server: DevServer
    ) -> None:
        status, headers, body = request(
            f"{server.url}billing/portal?return_url=https://evil.example/",
            headers={"Accept": BROWSER_ACCEPT},
        )

        assert status == 400
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src" not in headers["Content-Security-Policy"]
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
        page = body.decode()
        assert "<code>return_url</code>" in page
        assert "evil.example" in page  # named in the reason ...
        assert 'href="https://evil.example' not in page  # ... never linked
        assert f'<a class="back" href="{server.url}">' in page  # DEFAULT_RETURN_URL instead
        assert headers["Apigw-Requestid"] in page

    def test_cookie_mode_is_the_csrf_check_a_page_on_another_origin_meets(
        self, server: DevServer
    ) -> None:
        """--auth cookie: the session cookie, sent by a page on an origin the API does not
        allow (a dev server on :8080 without ALLOWED_ORIGINS), is a 403 naming that origin."""
        server.use_auth("cookie")
        try:
            cookie = server.sign_in_cookie(signed_in=True).split(";")[0]
            headers = {"Cookie": cookie, "Accept": "application/json"}
            own = request(f"{server.url}billing/portal", b"", headers)
            foreign = {**headers, "Origin": "http://localhost:8080"}
            status, _, body = request(f"{server.url}billing/portal", b"", foreign)
        finally:
            server.use_auth("authorizer")

        assert own[0] == 200  # same-origin (no Origin header): the cookie is enough
        assert status == 403
        assert json.loads(body)["detail"] == (
            "Origin 'http://localhost:8080' is not one of ALLOWED_ORIGINS: "
            "it may not use the session cookie."
        )

    def test_it_serves_the_openapi_document(self, server: DevServer) -> None:
        status, headers, body = request(f"{server.url}openapi.yaml")

        assert status == 200
        assert headers["Content-Type"] == "application/yaml; charset=utf-8"
        assert body == (ROOT / "docs" / "openapi.yaml").read_bytes()

    def test_paths_other_than_the_route_are_api_gateways_404(self, server: DevServer) -> None:
        status, _, body = request(f"{server.url}billing")

        assert status == 404
        assert json.loads(body) == {"message": "Not Found"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="class")
def configured() -> Iterator[DevServer]:
    """A server started with settings a deployment may have: the user key from a verified
    email, a table of its own layout, and an error page on this server."""
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)
        patch.setenv("USER_ID_CLAIM", "email")
        patch.setenv("CUSTOMERS_TABLE", "acme-billing")
        patch.setenv("CUSTOMERS_TABLE_KEY", "pk")
        patch.setenv("CUSTOMER_ID_ATTRIBUTE", "cid")
        patch.setenv("ERROR_REDIRECT_URL", f"http://127.0.0.1:{port}/billing-error")
        with DevServer(port=port, out=io.StringIO()) as running:
            yield running


class TestSettingsTheServerHonours:
    def test_user_id_claim_email_signs_in_with_the_verified_email(
        self, configured: DevServer
    ) -> None:
        status, headers, _ = form_post(configured, return_url=configured.url)

        assert status == 303
        assert headers["Location"].startswith(f"{stand_in(configured).url}/p/session/")
        assert configured.account == "demo@example.com"

    def test_a_custom_table_is_the_one_created_seeded_and_read(self, configured: DevServer) -> None:
        dynamodb = boto3.client("dynamodb")  # the server's moto, through the environment it set
        assert dynamodb.list_tables()["TableNames"] == ["acme-billing"]
        item = dynamodb.get_item(TableName="acme-billing", Key={"pk": {"S": "demo@example.com"}})
        assert item["Item"]["cid"] == {"S": configured.customer_id}
        assert "table acme-billing (demo@example.com -> cus_" in configured.banner()
        assert "--local http://127.0.0.1:" in configured.banner()
        assert "--table acme-billing --key pk --attribute cid" in configured.banner()

    def test_the_error_redirect_lands_on_a_page_naming_the_problem(
        self, configured: DevServer
    ) -> None:
        hostile = f"{configured.url}billing/portal?return_url=https://evil.example/"
        status, headers, _ = request(hostile, headers={"Accept": BROWSER_ACCEPT})
        assert status == 303
        assert headers["Location"] == (
            f"http://127.0.0.1:{configured.port}/billing-error?error=invalid-parameter"
        )

        status, _, page = request(headers["Location"])

        assert status == 200
        assert "<code>?error=invalid-parameter</code>" in page.decode()


def test_a_user_id_claim_the_local_sign_in_lacks_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("USER_ID_CLAIM", "oid")

    with pytest.raises(LocalServerError, match=r"^USER_ID_CLAIM: .*'oid' is none of them"):
        DevServer(port=0).start()


def test_no_seed_is_a_404_until_link_customer_local_links_the_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with DevServer(port=0, seed=False) as empty:
        status, _, body = form_post(empty, return_url=empty.url)
        assert status == 404
        assert f'data-problem-type="{PROBLEM}no-billing-account"'.encode() in body

        # The tool the docs name for linking, pointed at this server's DynamoDB.
        customer = stand_in(empty).add_customer(email="linked@example.com")
        assert link_customer.main([empty.user, customer, "--local", empty.dynamodb_url]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == f"{empty.user} -> {customer}"

        status, _, _ = form_post(empty, return_url=empty.url)
        assert status == 303
        assert list(stand_in(empty).sessions.values())[-1]["customer"] == customer


def test_the_banners_link_customer_line_works_as_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with DevServer(port=0, seed=False) as empty:
        [line] = [line for line in empty.banner().splitlines() if "tools.link_customer" in line]
        command = shlex.split(line.split("link a user", 1)[1])
        assert command[:5] == ["python3", "uvw.py", "run", "python", "-m"]
        assert form_post(empty, return_url=empty.url)[0] == 404

        # What the user pastes, after `python -m tools.link_customer`.
        assert link_customer.main(command[6:]) == 0

        assert capsys.readouterr().out.splitlines()[-1] == f"{empty.user} -> {empty.customer_id}"
        status, headers, _ = form_post(empty, return_url=empty.url)
        assert status == 303
        assert headers["Location"].startswith(f"{stand_in(empty).url}/p/session/")


def test_the_demo_deletes_its_customer_and_the_next_click_makes_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")
    with DevServer(port=0, out=io.StringIO()) as demo:
        first = demo.customer_id
        assert f"maps this account to <code>{first}</code>." in request(demo.url)[2].decode()

        status, headers, _ = request(f"{demo.url}delete-customer", b"", {})

        assert (status, headers["Location"]) == (303, "/")
        assert stand_in(demo).customers[first] == {
            "id": first,
            "object": "customer",
            "deleted": True,
        }
        assert "(deleted at Stripe)" in request(demo.url)[2].decode()
        status, _, _ = form_post(demo, return_url=demo.url)
        assert status == 303
        new = list(stand_in(demo).sessions.values())[-1]["customer"]
        assert new not in (first, None)
        assert f"maps this account to <code>{new}</code>." in request(demo.url)[2].decode()


def test_the_demo_page_shows_only_the_deep_links_portal_flows_offers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("PORTAL_FLOWS", "payment_method_update,subscription_update_confirm")
    with DevServer(port=0, out=io.StringIO()) as demo:
        page = request(demo.url)[2].decode()

        shown = re.findall(r'name="flow" value="(\w+)"', page)
        assert shown == ["payment_method_update", "subscription_update_confirm"]
        assert "<button>Billing</button>" in page
        assert form_post(demo, return_url=demo.url, flow="subscription_cancel")[0] == 409


def test_a_log_level_powertools_cannot_use_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "LOUD")

    with pytest.raises(LocalServerError) as refused:
        DevServer(port=0).start()

    assert str(refused.value) == (
        "POWERTOOLS_LOG_LEVEL: 'LOUD' is not a log level; "
        "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )


def test_stopping_closes_every_port_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    before = dict(os.environ)
    with DevServer(port=0) as running:
        urls = [running.url, running.dynamodb_url, stand_in(running).url]
        assert request(running.url)[0] == 200

    for url in urls:
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=5)  # noqa: S310
    assert dict(os.environ) == before


def test_a_port_in_use_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(LocalServerError, match=f"127.0.0.1:{port}.*--dynamodb-port"):
            DevServer(port=0, dynamodb_port=port).start()
        with pytest.raises(LocalServerError, match=f"127.0.0.1:{port}.*--port"):
            DevServer(port=port).start()


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local.server", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def _serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The server command line, running; killed at the end if the test did not stop it."""
    proc = _start(env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"}
    return {**env, **changes}


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    """The URL the server prints once it is ready."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            match = re.search(r"open (http://\S+)", line)
            if match:
                return match.group(1)
            if not line:
                break
    raise AssertionError(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")


# --- Refusing to start on a bad setting or port -------------------------------------------


def _refused(*args: str, **env: str) -> tuple[int, str, str]:
    """Run the server command line, expecting it to exit at once: (exit code, stdout, stderr)."""
    proc = subprocess.Popen(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-m", "local.server", *args],
        cwd=ROOT,
        env=_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the server started instead of refusing to:\n{out}")
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("origins", "told"),
    [
        (
            "app.example.com",
            "'app.example.com' is not an origin; write it as https://app.example.com",
        ),
        ("http://app.example.com", "write it as https://app.example.com"),
        ("https://app.example.com/settings", "write it as https://app.example.com"),
        # A dev server on this machine speaks http: the suggestion must work as written.
        (
            "localhost:8080",
            "'localhost:8080' is not an origin; write it as http://localhost:8080",
        ),
        ("127.0.0.1:5173", "write it as http://127.0.0.1:5173"),
        ("http://localhost:8080/app", "write it as http://localhost:8080"),
    ],
)
def test_a_bad_allowed_origin_is_refused_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch, origins: str, told: str
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("ALLOWED_ORIGINS", origins)
    before = dict(os.environ)

    with pytest.raises(LocalServerError) as refused:
        DevServer(port=0).start()

    assert str(refused.value).startswith("ALLOWED_ORIGINS: ")
    assert told in str(refused.value)
    assert dict(os.environ) == before


def test_any_bad_setting_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("PORTAL_CONFIGURATION_ID", "cus_123")

    with pytest.raises(LocalServerError, match=r"^PORTAL_CONFIGURATION_ID: "):
        DevServer(port=0).start()


def test_a_bad_setting_stops_the_command_with_one_plain_line() -> None:
    code, out, err = _refused("--port", "0", ALLOWED_ORIGINS="app.example.com")

    assert code != 0
    assert out == ""  # no "open http://..." banner, and no JSON log line
    assert err.splitlines() == [
        "local.server: ALLOWED_ORIGINS: 'app.example.com' is not an origin; "
        "write it as https://app.example.com"
    ]


# portal.yaml as a new user gets it wrong: (what they wrote, the line the server stops with).
SHIPPED_PORTAL = (ROOT / "portal.yaml").read_text(encoding="utf-8")
PORTAL_MISTAKES = [
    (
        SHIPPED_PORTAL.replace("invoice_history:", "invoice_histroy:"),
        "features.invoice_histroy: not a field of Stripe's portal configuration; "
        "did you mean invoice_history?",
    ),
    (
        SHIPPED_PORTAL.replace("login_page:\n  enabled: false", "login_page:\n  enabled: maybe"),
        "login_page.enabled: Input should be a valid boolean, unable to interpret input "
        "(got 'maybe')",
    ),
    (SHIPPED_PORTAL.replace("features:", "features: [", 1), "not valid YAML at line 21"),
    (
        SHIPPED_PORTAL.replace(
            "  subscription_pause:\n    enabled: true", "  subscription_pause:\n    enabled: false"
        ),
        "features.subscription_pause.enabled: must be true: the function deep-links "
        "flow=subscription_pause (with it off, users get 409 flow-unavailable)",
    ),
    (
        SHIPPED_PORTAL.replace("name: billing-portal", "name: caf\u00e9"),
        "not UTF-8 text at line 11; save it as UTF-8",
    ),
]


@pytest.mark.parametrize(("text", "told"), PORTAL_MISTAKES)
def test_a_portal_yaml_mistake_stops_the_server_with_one_line_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, told: str
) -> None:
    from tools import portal_config

    assert text != SHIPPED_PORTAL  # the mistake is really made
    path = tmp_path / "portal.yaml"
    # The last mistake: saved as Latin-1 (é is one byte that UTF-8 cannot start with).
    path.write_bytes(text.encode("utf-8" if text.isascii() else "latin-1"))
    monkeypatch.setattr(portal_config, "PORTAL_YAML", path)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("PORTAL_CONFIGURATION_ID", raising=False)

    with pytest.raises(LocalServerError) as refused:
        DevServer(port=0).start()

    assert refused.value.problems == (f"{path}: {told}",)


def test_a_portal_yaml_mistake_ends_the_command_in_plain_lines_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools import portal_config

    path = tmp_path / "portal.yaml"
    # Two flows turned off: a line each.
    off = SHIPPED_PORTAL.replace(
        "  subscription_pause:\n    enabled: true", "  subscription_pause:\n    enabled: false"
    ).replace(
        "  invoice_history:\n    enabled: true\n  payment_method_update:\n    enabled: true",
        "  invoice_history:\n    enabled: true\n  payment_method_update:\n    enabled: false",
    )
    path.write_text(off, encoding="utf-8")
    monkeypatch.setattr(portal_config, "PORTAL_YAML", path)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # pytest keeps its own handlers
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("PORTAL_CONFIGURATION_ID", raising=False)

    with pytest.raises(SystemExit) as exited:
        main(["--port", "0"])

    assert str(exited.value.code).splitlines() == [
        f"local.server: {path}: features.payment_method_update.enabled: must be true: the "
        "function deep-links flow=payment_method_update (with it off, users get 409 "
        "flow-unavailable)",
        f"local.server: {path}: features.subscription_pause.enabled: must be true: the function "
        "deep-links flow=subscription_pause (with it off, users get 409 flow-unavailable)",
        f"local.server: {path}: features.payment_method_update.enabled: must be true with "
        "subscription_update (Stripe: cannot enable subscription updates while payment method "
        "update is disabled)",
    ]
    assert capsys.readouterr() == ("", "")  # no banner, no traceback


@pytest.mark.parametrize(("text", "port"), [("0", 0), ("3000", 3000), ("65535", 65535)])
def test_a_port_is_a_number_from_0_to_65535(text: str, port: int) -> None:
    assert port_number(text) == port


@pytest.mark.parametrize("text", ["70000", "65536", "-1", "http", "", "3000.0"])
def test_anything_else_is_not_a_port(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        port_number(text)

    assert str(refused.value) == f"{text!r} is not a port: use 0..65535 (0 picks any free port)"


@pytest.mark.parametrize("flag", ["--port", "--dynamodb-port", "--stripe-port"])
def test_each_port_flag_is_checked_as_a_port(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main([flag, "70000"])

    assert exited.value.code == 2  # argparse's usage error, before anything starts
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: python3 uvw.py run python -m local.server ")
    assert err.splitlines()[-1] == (
        f"python3 uvw.py run python -m local.server: error: argument {flag}: "
        "'70000' is not a port: use 0..65535 (0 picks any free port)"
    )


def test_a_live_stripe_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_123")

    with pytest.raises(LocalServerError, match=r"^STRIPE_API_KEY is a live-mode key; "):
        DevServer(port=0).start()


# --- Stripe test mode: reaching Stripe or not ---------------------------------------------


def test_stripe_out_of_reach_is_not_called_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a test key and no way to reach Stripe (here: a loopback port nobody listens on),
    creating the demo customer fails as a connection problem."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unreachable")
        port = closed.getsockname()[1]
        monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{port}")

        with pytest.raises(LocalServerError) as refused:
            DevServer(port=0).start()

    assert str(refused.value) == (
        f"the Stripe API at http://127.0.0.1:{port} could not be reached (Connection refused) "
        "to create the demo customer; check STRIPE_API_BASE, or unset STRIPE_API_KEY to use the "
        "local stand-in."
    )


def test_stripe_refusing_the_demo_customer_is_still_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeStripe() as stripe_test_mode:  # it knows sk_test_fake, not this key
        monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unknown")
        monkeypatch.setenv("STRIPE_API_BASE", stripe_test_mode.url)

        with pytest.raises(LocalServerError) as refused:
            DevServer(port=0).start()

    assert str(refused.value).startswith(
        "Stripe refused to create the demo customer (AuthenticationError: "
    )


# --- What the terminal shows per request --------------------------------------------------

REQUEST_LINE = re.compile(
    r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+ ms(?: (?P<problem>\S+))?"
)


def test_the_terminal_shows_one_short_line_per_request_until_sigterm() -> None:
    """Locally, a request is one human line (method, path, status, time, problem type), not
    powertools' JSON; the JSON stays for WARNING and ERROR lines. SIGTERM stops it cleanly."""
    key = "sk_test_terminal"
    with FakeStripe() as stripe_test_mode:
        stripe_test_mode.api_keys.add(key)
        env = _environment(STRIPE_API_KEY=key, STRIPE_API_BASE=stripe_test_mode.url)
        with _serving(env) as proc:
            url = _wait_for_url(proc)
            assert request(url)[0] == 200
            assert request(f"{url}billing/portal", b"return_url=" + url.encode())[0] == 303
            hostile = f"{url}billing/portal?return_url=https://evil.example/"
            assert request(hostile)[0] == 400
            # Stripe rejects the key: a 500, which the operator must see explained.
            stripe_test_mode.fail_next(401, path_prefix="/v1/billing_portal")
            assert request(f"{url}billing/portal", b"return_url=" + url.encode())[0] == 500
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)

    requests = [m.groupdict() for m in map(REQUEST_LINE.fullmatch, out.splitlines()) if m]
    assert [(r["method"], r["path"], r["status"], r["problem"]) for r in requests] == [
        ("GET", "/", "200", None),
        ("POST", "/billing/portal", "303", None),
        ("GET", "/billing/portal", "400", "invalid-parameter"),
        ("POST", "/billing/portal", "500", "server-misconfigured"),
    ]
    logged = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {entry["level"] for entry in logged} == {"WARNING", "ERROR"}
    assert "Stripe rejected our API key" in [entry["message"] for entry in logged]
    assert '"POST /billing/portal' not in err  # http.server's own access lines are gone
    # SIGTERM (what a process manager sends) stops it cleanly.
    assert proc.returncode == 0
    assert out.rstrip().endswith("Stopped.")
    assert "Traceback" not in err
