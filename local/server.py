"""The whole product on one machine, no Docker or AWS: a local server with a Billing button.

    python3 uvw.py run python -m local.server             # then open http://127.0.0.1:3000/
    python3 uvw.py run python -m local.server --port 0    # any free port
    python3 uvw.py run python -m local.server --auth cookie   # the function checks a cookie

It plays API Gateway in front of the real lambda_handler (local/apigw.py): every request to
/billing/portal becomes an HTTP API event, signed in as the demo user by the authorizer it plays
(--auth authorizer), or carrying a local issuer's token for the function to verify (--auth
function: bearer; --auth cookie: a sign-in cookie). DynamoDB is moto's server
with the table from template.yaml, seeded with the demo user's customer; Stripe is the local
stand-in (testing/fake_stripe.py) or, with STRIPE_API_KEY=sk_test_... set, Stripe's test mode.
GET / serves the demo page (local/demo.html); GET /billing.js serves local/billing.js as it is (the
file you copy: it accepts the stand-in's portal pages while the API is on loopback) to any page;
GET /openapi.yaml the endpoint's OpenAPI 3.1 document (docs/openapi.yaml).

A bad setting stops it before it starts, in one line. The terminal shows one line per request
(method, path, status, time, problem type); the handler's JSON logs only from WARNING up, unless
POWERTOOLS_LOG_LEVEL says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

import boto3
import stripe
from moto.server import ThreadedMotoServer

from billing_portal.settings import offered_flows
from local.apigw import HttpResponse, http_api_event, http_response, invoke_function
from local.auth import (
    AUDIENCE,
    AUTH_MODES,
    COOKIE_NAME,
    LOCAL_ISSUER,
    NOTES,
    UNAUTHORIZED,
    LocalIssuer,
    session_cookie,
)
from local.checks import log_level_problem
from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
from testing.harness import (
    DEMO_SETTINGS,
    DEMO_TABLE,
    DEMO_USER,
    LambdaContext,
    create_table,
    put_customer,
)

logger = logging.getLogger("local.server")

DEMO_EMAIL = "demo@example.com"
DEMO_NAME = "Demo User"
DEMO_PRICE = "price_basic"
# The demo page's own buttons (POST, each answered with a 303 back to the page).
DEMO_ACTIONS = ("/auth-mode", "/sign-in", "/sign-out", "/delete-customer")
ROUTE = "/billing/portal"
JSON = ("Content-Type", "application/json")
PAGE = Path(__file__).with_name("demo.html")
SCRIPT = Path(__file__).with_name("billing.js")
OPENAPI = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
# The README's frontend snippets name these example hosts; the demo page is those snippets with
# both pointed at this server.
SNIPPET_API = "https://api.example.com"
SNIPPET_RETURN_URL = "https://app.example.com/settings"
# This server owns the AWS side: nothing it runs may reach a real AWS account.
DROPPED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "STRIPE_API_KEY_PARAM",
)


# With --org: the team's settings (each can still be overridden from the environment).
TEAM_SETTINGS = {"USER_ID_CLAIM": "org_id", "BILLING_ROLE_CLAIM": "role", "BILLING_ROLES": "admin"}


class LocalServerError(Exception):
    """Why the server cannot start, in one sentence for the person who started it (one line per
    problem when there are several, as in a portal.yaml with two mistakes)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def port_number(text: str) -> int:
    """argparse type for a TCP port: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: use 0..65535 (0 picks any free port)"
        )
    return port


def stripe_test_key() -> str | None:
    """STRIPE_API_KEY when it is a test-mode key, None (use the stand-in) when unset."""
    key = os.environ.get("STRIPE_API_KEY", "").strip()
    if not key:
        return None
    if "_live_" in key:
        raise LocalServerError(
            "STRIPE_API_KEY is a live-mode key; the local server only takes test-mode keys "
            "(sk_test_...), so that a demo click never touches real customers."
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        raise LocalServerError("STRIPE_API_KEY must be a Stripe test-mode key (sk_test_...).")
    return key


class DevServer:
    """Start with .start() and serve with .serve_forever(), or run in a thread with `with`."""

    def __init__(
        self,
        port: int = 3000,
        *,
        user: str = DEMO_USER,
        email: str = DEMO_EMAIL,
        org: str | None = None,
        role: str | None = None,
        seed: bool = True,
        dynamodb_port: int = 0,
        stripe_port: int = 0,
        out: TextIO | None = None,
        auth: str = "authorizer",
    ) -> None:
        if auth not in AUTH_MODES:
            raise LocalServerError(f"--auth {auth!r}: use one of {', '.join(AUTH_MODES)}")
        self.user, self.email, self.seed, self.auth = user, email, seed, auth
        self._issuer: LocalIssuer | None = None
        # Where each request's line goes (default: stdout as it is when the line is printed).
        self.out = out
        # Team billing: the organisation is the billing account, and only admins may open it.
        self.org, self.role = org, role
        self.customer_id: str | None = None
        self._ports = (port, dynamodb_port, stripe_port)
        self._stripe_key: str | None = None
        self._httpd: _HttpServer | None = None
        self._moto: ThreadedMotoServer | None = None
        self._moto_url = ""
        self._fake: FakeStripe | None = None
        self._saved_environ: dict[str, str] | None = None
        self._thread: threading.Thread | None = None
        self._handler: Any = None
        # Lambda runs one request at a time per environment, and powertools' resolver keeps the
        # current event in a module-level object: concurrent calls would see each other's event.
        self._handler_lock = threading.Lock()
        self._print_lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("DevServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def dynamodb_url(self) -> str:
        return self._moto_url

    @property
    def stripe(self) -> FakeStripe | None:
        """The local Stripe stand-in, or None when talking to Stripe's test mode."""
        return self._fake

    # lifecycle

    def start(self) -> DevServer:
        port, dynamodb_port, stripe_port = self._ports
        self._stripe_key = stripe_test_key()  # refuse a live key before anything starts
        with _listening("--port", port):
            self._httpd = _HttpServer(("127.0.0.1", port), self)
        try:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
            with _listening("--dynamodb-port", dynamodb_port):
                # moto binds in its own thread and would wait forever if that failed.
                socket.create_server(("127.0.0.1", dynamodb_port)).close()
            self._moto = ThreadedMotoServer("127.0.0.1", dynamodb_port, verbose=False)
            self._moto.start()
            self._moto_url = "http://{}:{}".format(*self._moto.get_host_and_port())
            if self._stripe_key is None:
                with _listening("--stripe-port", stripe_port):
                    self._fake = FakeStripe(stripe_port).start()
            self._issuer = LocalIssuer().start()
            self._saved_environ = dict(os.environ)
            self._configure_environment()
            _check_settings(self._saved_environ.get("ALLOWED_ORIGINS", ""))
            if self._fake is not None and not os.environ.get("PORTAL_CONFIGURATION_ID", "").strip():
                # The stand-in's portal gets the features portal.yaml enables, as a deploy does
                # (tools/portal_config.py); imported here, as only this path needs it.
                from tools import portal_config

                try:
                    os.environ["PORTAL_CONFIGURATION_ID"], _ = portal_config.apply(
                        portal_config.PORTAL_YAML,
                        portal_config.LOCAL,
                        api_key=DEFAULT_API_KEY,
                        api_base=self._fake.url,
                    )
                except portal_config.PortalConfigError as exc:
                    # Its lines already name the file and the field: one line each, no trace.
                    raise LocalServerError(*exc.problems) from None
            self._seed()
            self._handler = _load_handler()
        except BaseException:
            self.stop()
            raise
        return self

    def serve_forever(self) -> None:
        if self._httpd is None:
            raise RuntimeError("DevServer is not started")
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop everything that started; safe to call more than once."""
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join()
                self._thread = None
            self._httpd.server_close()
            self._httpd = None
        if self._fake is not None:
            self._fake.stop()
            self._fake = None
        if self._issuer is not None:
            self._issuer.stop()
            self._issuer = None
        if self._moto is not None:
            # moto keeps its tables in the process, across servers: leave none behind, as
            # mock_aws does when it ends.
            reset = f"{self._moto_url}/moto-api/reset"  # our own loopback server
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(urllib.request.Request(reset, method="POST")),  # noqa: S310
            ):
                pass
            self._moto.stop()
            self._moto = None
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def __enter__(self) -> DevServer:
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="local-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _configure_environment(self) -> None:
        """The handler's settings: the environment's, on top of demo defaults, except what this
        server owns (its DynamoDB, its origins, and Stripe unless a test key is given)."""
        own_origins = f"http://localhost:{self.port},http://127.0.0.1:{self.port}"
        user_origins = os.environ.get("ALLOWED_ORIGINS", "").strip()
        defaults = {
            **DEMO_SETTINGS,
            "DEFAULT_RETURN_URL": self.url,
            # The terminal gets one line per request from this server (print_request), not the
            # handler's JSON "request" line; warnings and errors still come as JSON.
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        owned = {
            "ALLOWED_ORIGINS": f"{user_origins},{own_origins}" if user_origins else own_origins,
            "AWS_ENDPOINT_URL_DYNAMODB": self._moto_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        if self._fake is not None:
            owned |= {"STRIPE_API_KEY": DEFAULT_API_KEY, "STRIPE_API_BASE": self._fake.url}
        if self.org is not None:
            defaults |= TEAM_SETTINGS
        for name in DROPPED_VARIABLES:
            os.environ.pop(name, None)
        for name, value in defaults.items():
            if not os.environ.get(name, "").strip():
                os.environ[name] = value
        os.environ.update(owned)
        self._configure_auth()

    def _configure_auth(self) -> None:
        """The function's AUTH_* settings for this mode: none behind the authorizer."""
        assert self._issuer is not None
        for name, value in self._issuer.function_settings(self.auth).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def use_auth(self, auth: str) -> None:
        """Switch the auth mode while running (the demo page's mode buttons): the function is
        built again from the new settings, as a new deployment would be."""
        if auth not in AUTH_MODES:
            raise ValueError(f"unknown auth mode {auth!r}")
        with self._handler_lock:
            self.auth = auth
            self._configure_auth()
            self._handler = _load_handler()

    def _seed(self) -> None:
        """The table as the settings lay it out (CUSTOMERS_TABLE, its key and attribute), in
        moto, and the signed-in account's customer in it."""
        dynamodb = boto3.client("dynamodb")
        key = os.environ.get("CUSTOMERS_TABLE_KEY") or None
        create_table(dynamodb, self.table, key)
        self.account  # noqa: B018 - a USER_ID_CLAIM no local claim answers stops the start here
        # Made with --no-seed too, left unlinked: the banner's link_customer line then names a
        # customer this Stripe has, and works as printed (an invented cus_123 ends in a 404).
        self.customer_id = self._create_customer()
        if not self.seed:
            return
        attribute = os.environ.get("CUSTOMER_ID_ATTRIBUTE") or "stripe_customer_id"
        put_customer(
            dynamodb, self.account, self.customer_id, self.table, key=key, attribute=attribute
        )

    @property
    def table(self) -> str:
        return os.environ.get("CUSTOMERS_TABLE") or DEMO_TABLE

    def _create_customer(self) -> str:
        """The demo customer, made through the SDK at whichever Stripe the handler will use
        (with --no-seed, the one the banner offers to link)."""
        base = os.environ.get("STRIPE_API_BASE")
        client = stripe.StripeClient(
            os.environ["STRIPE_API_KEY"],
            base_addresses={"api": base} if base else {},
        )
        try:
            customer = client.v1.customers.create(
                {"email": self.email, "name": DEMO_NAME, "metadata": {"user_key": self.account}}
            )
        except stripe.APIConnectionError as exc:
            from tools.portal_config import unreachable

            check = "STRIPE_API_BASE" if base else "the connection"
            raise LocalServerError(
                f"{unreachable(exc, base)} to create the demo customer; check {check}, or "
                "unset STRIPE_API_KEY to use the local stand-in."
            ) from None
        except stripe.StripeError as exc:
            message = " ".join((exc.user_message or "no message").split())
            raise LocalServerError(
                f"Stripe refused to create the demo customer ({type(exc).__name__}: {message})."
            ) from None
        if self._fake is not None:
            # A live subscription, so the subscription flows have something to act on.
            self._fake.add_subscription(customer=customer.id, items=((DEMO_PRICE, 1),))
        return customer.id

    @property
    def account(self) -> str:
        """The billing account's key: the claim USER_ID_CLAIM names (sub: the user; org_id with
        --org: the organisation; email...)."""
        claim = os.environ.get("USER_ID_CLAIM") or "sub"
        value = self.claims().get(claim)
        if not value:
            sent = ", ".join(sorted(self.claims()))
            raise LocalServerError(
                f"USER_ID_CLAIM: the local server signs users in with the claims {sent}; "
                f"{claim!r} is none of them (--org adds org_id and role)"
            )
        return value

    # requests

    def claims(self) -> dict[str, str]:
        """What API Gateway's JWT authorizer passes on for the signed-in demo user (as strings)."""
        now = int(time.time())
        team = {"org_id": self.org, "role": self.role or ""} if self.org is not None else {}
        return {
            **team,
            "sub": self.user,
            "email": self.email,
            # As a sign-in that checked the address says (Cognito, Auth0...): USER_ID_CLAIM=email
            # is accepted only with it.
            "email_verified": "true",
            "name": DEMO_NAME,
            "iss": "local.server",
            "aud": "billing-portal-local",
            "token_use": "id",
            "iat": str(now),
            "exp": str(now + 3600),
        }

    def token(self, *, expired: bool = False) -> str:
        """A token of the local issuer for the signed-in user (an hour old when `expired`)."""
        assert self._issuer is not None
        team = {"org_id": self.org, "role": self.role or ""} if self.org is not None else {}
        claims = {
            **team,
            "sub": self.user,
            "email": self.email,
            "email_verified": True,
            "name": DEMO_NAME,
            "token_use": "id",
        }
        return self._issuer.token(claims, expired=expired)

    def _authorizer(self, headers: list[tuple[str, str]]) -> dict[str, str] | None:
        """The claims the played authorizer passes on, None for its 401. A request without
        Authorization is signed in as the demo user: the local shortcut that lets plain forms
        work here (a deployed authorizer answers them 401)."""
        assert self._issuer is not None
        found = [value for name, value in headers if name.lower() == "authorization"]
        return self._issuer.authorize(found) if found else self.claims()

    def invoke(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, ip: str
    ) -> HttpResponse:
        claims = None
        if self.auth == "authorizer":
            claims = self._authorizer(headers)
            if claims is None:
                challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
                return HttpResponse(401, [JSON, challenge], UNAUTHORIZED)
        event = http_api_event(method, target, headers, body, claims=claims, source_ip=ip)
        request_id = event["requestContext"]["requestId"]
        try:
            with self._handler_lock:
                result = invoke_function(self._handler, event, LambdaContext())
        except Exception:
            # What API Gateway answers when the function itself crashes.
            logger.exception("The handler raised")
            return HttpResponse(500, [JSON], b'{"message":"Internal Server Error"}')
        return http_response(result, request_id)

    def print_request(self, method: str, path: str, answer: HttpResponse, seconds: float) -> None:
        """One line for the terminal: `POST /billing/portal 400 3 ms invalid-parameter`."""
        line = f"{method} {path} {answer.status} {round(seconds * 1000)} ms"
        problem = _problem_slug(answer)
        if problem:
            line += f" {problem}"
        with self._print_lock:
            print(line, file=self.out or sys.stdout, flush=True)

    def page(self, host: str | None, signed_in: bool = False) -> bytes:
        """The demo page, its snippets pointed at the origin the browser is using, saying what
        each button stands for in the current auth mode."""
        origins = {f"localhost:{self.port}", f"127.0.0.1:{self.port}"}
        origin = f"http://{host}" if host in origins else self.url.rstrip("/")
        text = PAGE.read_text(encoding="utf-8")
        text = text.replace(SNIPPET_API, origin).replace(SNIPPET_RETURN_URL, f"{origin}/")
        who = f"{self.user} ({self.email})"
        if self.org is not None:
            who += f", {self.role or 'no role'} of organisation {self.org}"
        # In cookie mode only the cookie signs you in: without it the page must not claim you are.
        who = f"<code>{html.escape(who)}</code>"
        if self.auth == "cookie" and not signed_in:
            who_line = f"Not signed in: <b>Sign in</b> below sets the cookie for {who}."
        else:
            who_line = f"Signed in as {who}."
        notes = NOTES[self.auth]
        sign_in = ""
        if self.auth == "cookie":
            action, label = ("/sign-out", "Sign out") if signed_in else ("/sign-in", "Sign in")
            state = "signed in: the cookie is set" if signed_in else "not signed in: no cookie"
            sign_in = (
                f'<form method="POST" action="{action}"><button>{label}</button></form> '
                f'<span id="session">{state}</span>'
            )
        values = {
            "{{WHO}}": who_line,
            "{{AUTH}}": self.auth,
            "{{AUTH_NOTE}}": notes["auth"],
            "{{FORM_NOTE}}": notes["form"],
            "{{TOKEN_NOTE}}": notes["token"],
            "{{SIGN_IN}}": sign_in,
            # In cookie mode billing.js sends the cookie: no token.
            "{{TOKEN}}": "null" if self.auth == "cookie" else json.dumps(self.token()),
            "{{EXPIRED_TOKEN}}": json.dumps(self.token(expired=True)),
            "{{CUSTOMER}}": self.customer_note(),
        }
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return _offered_only(text).encode("utf-8")

    def mapped_customer(self) -> str | None:
        """The customer the table maps the signed-in account to now (the function may have
        replaced a deleted one), or None."""
        key = os.environ.get("CUSTOMERS_TABLE_KEY") or "user_id"
        attribute = os.environ.get("CUSTOMER_ID_ATTRIBUTE") or "stripe_customer_id"
        item = boto3.client("dynamodb").get_item(
            TableName=self.table, Key={key: {"S": self.account}}, ConsistentRead=True
        )
        value = item.get("Item", {}).get(attribute, {}).get("S")
        return str(value) if value is not None else None

    def delete_customer(self) -> None:
        """Delete the mapped customer at the stand-in, as Stripe's Dashboard would: the table
        still maps the account to it, and the next click shows what the function does then."""
        customer = self.mapped_customer()
        if self._fake is None or customer is None or customer not in self._fake.customers:
            return
        if not self._fake.customers[customer].get("deleted"):
            self._fake.delete_customer(customer)

    def customer_note(self) -> str:
        """The demo page's line about the account's Stripe customer, and the button deleting it
        (with the stand-in only: never a customer of a real Stripe account)."""
        customer = self.mapped_customer()
        if customer is None:
            return '<p id="customer">The table maps this account to no customer yet.</p>'
        deleted = self._fake is not None and self._fake.customers.get(customer, {}).get("deleted")
        state = " (deleted at Stripe)" if deleted else ""
        note = (
            f'<p id="customer">The table maps this account to <code>{html.escape(customer)}'
            f"</code>{state}.</p>"
        )
        if self._fake is None or deleted:
            return note
        creating = os.environ.get("CREATE_MISSING_CUSTOMERS", "").strip().lower() == "true"
        then = (
            "the next Billing click makes a new customer and maps it in place of this one"
            if creating
            else "the next Billing click is a 404 no-billing-account (start the server with "
            "CREATE_MISSING_CUSTOMERS=true to see it replaced)"
        )
        return (
            f'{note}\n<form method="POST" action="/delete-customer"><button>Delete this '
            f"customer at Stripe</button></form> <span>As in Stripe's Dashboard: {then}.</span>"
        )

    def sign_in_cookie(self, signed_in: bool) -> str:
        """The session cookie a sign-in sets (or a sign-out clears), as an app's login would."""
        return session_cookie(self.token() if signed_in else None)

    def _table_flags(self) -> str:
        """link_customer's flags for a table laid out other than the demo's."""
        flags = {
            "--table": self.table if self.table != DEMO_TABLE else "",
            "--key": os.environ.get("CUSTOMERS_TABLE_KEY", ""),
            "--attribute": os.environ.get("CUSTOMER_ID_ATTRIBUTE", ""),
        }
        return "".join(f" {flag} {value}" for flag, value in flags.items() if value)

    def error_page_path(self) -> str | None:
        """The path of ERROR_REDIRECT_URL when it points at this server (which then serves a
        page for it), else None."""
        target = urlsplit(os.environ.get("ERROR_REDIRECT_URL", ""))
        ours = {f"localhost:{self.port}", f"127.0.0.1:{self.port}"}
        return target.path or "/" if target.netloc in ours else None

    def error_page(self, query: str) -> bytes:
        """What your app's error page gets: the problem type in ?error=."""
        error = html.escape(dict(parse_qsl(query)).get("error", "(none)"))
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<title>Billing error</title><link rel="icon" href="data:,"></head><body>'
            "<h1>Billing could not open</h1>"
            f"<p>The function sent the browser here (ERROR_REDIRECT_URL) with "
            f"<code>?error={error}</code>; your app's page would say what to do about it.</p>"
            '<p><a href="/">Back to the demo page</a></p></body></html>'
        ).encode()

    def banner(self) -> str:
        if self._fake is not None:
            stripe_line = f"local stand-in at {self._fake.url} (testing/fake_stripe.py)"
        else:
            stripe_line = "Stripe test mode (STRIPE_API_KEY)"
        if self.seed:
            customer = f"{self.account} -> {self.customer_id}"
        else:
            customer = f"empty; {self.customer_id} is in Stripe, linked to nobody"
        team = f", {self.role or 'no role'} of {self.org}" if self.org is not None else ""
        return "\n".join(
            [
                f"billing-portal local server: open {self.url}",
                f"  signed in as  {self.user} ({self.email}){team}",
                f"  auth          {self.auth} (local issuer {LOCAL_ISSUER}, audience {AUDIENCE})",
                f"  endpoint      {self.url.rstrip('/')}{ROUTE}",
                f"  DynamoDB      moto at {self._moto_url}, table {self.table} ({customer})",
                f"  link a user   python3 uvw.py run python -m tools.link_customer "
                f"{shlex.quote(self.account)} {self.customer_id} --local {self._moto_url}"
                f"{self._table_flags()}",
                f"  Stripe        {stripe_line}",
                "Ctrl-C stops it.",
            ]
        )


@contextlib.contextmanager
def _listening(flag: str, port: int) -> Iterator[None]:
    try:
        yield
    except OverflowError:
        raise LocalServerError(f"{flag} {port} is not a port: use 0..65535.") from None
    except OSError as exc:
        raise LocalServerError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
            f"pick another {flag}, or {flag} 0 for any free port."
        ) from None


# One deep-link form of the demo page, and the flow it asks for.
_FLOW_FORM = re.compile(
    r'<form [^>]*>\s*(?:<input [^>]*>\s*)*?<input type="hidden" name="flow" '
    r'value="(?P<flow>\w+)">.*?</form>\n',
    re.S,
)


def _offered_only(page: str) -> str:
    """The page without the deep links PORTAL_FLOWS leaves out (they would only answer 409)."""
    offered = offered_flows(os.environ.get("PORTAL_FLOWS", ""))
    if offered is None:
        return page
    return _FLOW_FORM.sub(lambda form: form[0] if form["flow"] in offered else "", page)


def _load_handler() -> Any:
    """The real handler, built from the environment just set (and imported only then, as
    powertools reads POWERTOOLS_* when the package creates its logger and metrics)."""
    from billing_portal.factory import build

    return build(os.environ)


def _check_settings(user_origins: str) -> None:
    """The handler's own settings check, run now: a bad setting stops the server here rather
    than turning every click into a 500."""
    from billing_portal.settings import Settings, SettingsError

    log_level = log_level_problem(os.environ)
    if log_level:
        raise LocalServerError(log_level)
    try:
        Settings.from_environ(os.environ)
    except SettingsError as exc:
        message = str(exc)
        hint = _origins_hint(user_origins)
        if hint:
            message = re.sub(r"ALLOWED_ORIGINS: [^;]*", lambda _: hint, message, count=1)
        raise LocalServerError(message) from None


def _origins_hint(value: str) -> str | None:
    """For the first of the user's ALLOWED_ORIGINS that is not an origin: what is wrong and
    how to write it, e.g. "ALLOWED_ORIGINS: 'app.example.com' is not an origin; write it as
    https://app.example.com"."""
    from billing_portal.domain.urls import LOCAL_HOSTS, origin_of, parse_origin

    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            parse_origin(item)
        except ValueError as exc:
            problem = str(exc).removeprefix(f"{item!r} ")
        else:
            continue
        candidate = item if "://" in item else f"https://{item}"
        parts = urlsplit(candidate)
        if "://" not in item and parts.hostname in LOCAL_HOSTS:
            # A dev server on this machine (localhost:8080) speaks http.
            candidate = f"http://{item}"
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            candidate = "https" + candidate[4:]
        try:
            suggestion: str | None = parse_origin(origin_of(candidate))
        except ValueError:
            suggestion = None
        said = f"ALLOWED_ORIGINS: {item!r}"
        if suggestion is None:
            return (
                f"{said} is not an origin ({problem}); write each as scheme://host[:port], "
                "e.g. https://app.example.com"
            )
        if "://" not in item:
            return f"{said} is not an origin; write it as {suggestion}"
        return f"{said} {problem}; write it as {suggestion}"
    return None


def _problem_slug(answer: HttpResponse) -> str | None:
    """The problem type's last segment (`invalid-parameter`) of a problem+json answer, or of
    the error page a browser's navigation gets (web/error_page.py marks it on <main>)."""
    content_type = dict((k.lower(), v) for k, v in answer.headers).get("content-type", "")
    if content_type.startswith("text/html") and answer.status >= 400:
        found = re.search(rb'<main data-problem-type="[^"]*/([a-z-]+)"', answer.body)
        return found.group(1).decode() if found else None
    if not content_type.startswith("application/problem+json"):
        return None
    try:
        problem_type = json.loads(answer.body).get("type")
    except (ValueError, AttributeError):
        return None
    return problem_type.rsplit("/", 1)[-1] if isinstance(problem_type, str) else None


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dev: DevServer) -> None:
        self.dev = dev
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "billing-portal-local"

    def do_GET(self) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        dev = self.server.dev
        own_hosts = {f"localhost:{dev.port}", f"127.0.0.1:{dev.port}"}
        if (self.headers.get("Host") or "").lower() not in own_hosts:
            # DNS rebinding: a page on another name that resolves to 127.0.0.1 sends that name as
            # Host; it must never get the signed-in demo user's portal session.
            hosts = " or ".join(sorted(own_hosts))
            message = json.dumps({"message": f"Forbidden: this server answers only to {hosts}"})
            answer = HttpResponse(403, [JSON], message.encode())
        elif path == ROUTE:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = list(self.headers.items())
            answer = dev.invoke(self.command, self.path, headers, body, self.client_address[0])
        elif path == "/" and self.command in ("GET", "HEAD"):
            content_type = ("Content-Type", "text/html; charset=utf-8")
            signed_in = f"{COOKIE_NAME}=" in (self.headers.get("Cookie") or "")
            page = dev.page(self.headers.get("Host"), signed_in)
            answer = HttpResponse(200, [content_type, ("Cache-Control", "no-store")], page)
        elif path == "/openapi.yaml" and self.command in ("GET", "HEAD"):
            # The endpoint's contract (docs/openapi.yaml), for API tools to load from here.
            headers = [
                ("Content-Type", "application/yaml; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Access-Control-Allow-Origin", "*"),
            ]
            answer = HttpResponse(200, headers, OPENAPI.read_bytes())
        elif path == dev.error_page_path() and self.command in ("GET", "HEAD"):
            content_type = ("Content-Type", "text/html; charset=utf-8")
            page = dev.error_page(urlsplit(self.path).query)
            answer = HttpResponse(200, [content_type, ("Cache-Control", "no-store")], page)
        elif path in DEMO_ACTIONS and self.command == "POST":
            answer = self._demo_action(path)
        elif path == "/billing.js" and self.command in ("GET", "HEAD"):
            # Any page may import it (a module script is fetched with CORS): your own page on
            # another port uses it from here.
            headers = [
                ("Content-Type", "text/javascript; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Access-Control-Allow-Origin", "*"),
            ]
            answer = HttpResponse(200, headers, SCRIPT.read_bytes())
        else:  # API Gateway's answer for a route it does not have
            answer = HttpResponse(404, [JSON], b'{"message":"Not Found"}')
        # Printed before answering: once the client has its answer, nothing of this request is
        # left running (a test's output capture may be torn down the moment it returns).
        dev.print_request(self.command, path, answer, time.perf_counter() - started)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _demo_action(self, path: str) -> HttpResponse:
        """The demo page's own buttons: switch the auth mode, sign in or out (cookie mode),
        delete the account's customer at the stand-in.
        Each answers 303 back to the page."""
        dev = self.server.dev
        back = [("Location", "/"), ("Cache-Control", "no-store")]
        if path == "/auth-mode":
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
            if form.get("mode") not in AUTH_MODES:
                return HttpResponse(
                    400, [JSON], b'{"message":"mode: authorizer, function, cookie"}'
                )
            dev.use_auth(form["mode"])
            return HttpResponse(303, back, b"")
        if path == "/delete-customer":
            dev.delete_customer()
            return HttpResponse(303, back, b"")
        cookie = dev.sign_in_cookie(signed_in=path == "/sign-in")
        return HttpResponse(303, [*back, ("Set-Cookie", cookie)], b"")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # do_GET prints its own line (DevServer.print_request)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python3 uvw.py run python -m local.server",
        description="Serve a demo page with a Billing button in front of the real handler.",
        epilog="Any setting the handler reads (PORTAL_CONFIGURATION_ID, ERROR_REDIRECT_URL, "
        "POWERTOOLS_LOG_LEVEL...) can be set in the environment; a bad one stops the server. "
        "Each request prints one line; the handler's JSON logs show from POWERTOOLS_LOG_LEVEL "
        "(WARNING unless set). STRIPE_API_KEY=sk_test_... uses Stripe's test mode instead of "
        "the local stand-in; live keys are refused.",
    )
    parser.add_argument(
        "--port", type=port_number, default=3000, help="HTTP port (0: any free port)"
    )
    parser.add_argument("--user", default=DEMO_USER, help="the signed-in user's key (sub claim)")
    parser.add_argument("--email", default=DEMO_EMAIL, help="the signed-in user's email claim")
    parser.add_argument(
        "--org",
        help="sign in as a member of this organisation, which is the billing account "
        "(USER_ID_CLAIM=org_id; only --role admin may open it)",
    )
    parser.add_argument("--role", help="the member's role claim, with --org (admin, member...)")
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="authorizer",
        help="who checks the token: API Gateway's authorizer (played here; the default), the "
        "function (bearer tokens of a local issuer), or the function with a session cookie "
        "(the page signs you in); the demo page switches too",
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="leave the table empty: the user has no customer"
    )
    parser.add_argument(
        "--dynamodb-port",
        type=port_number,
        default=0,
        help="moto's port (events/env.json uses 5000)",
    )
    parser.add_argument(
        "--stripe-port",
        type=port_number,
        default=0,
        help="the stand-in's port (events/env.json: 12111)",
    )
    args = parser.parse_args(argv)
    if args.role is not None and args.org is None:
        parser.error("--role needs --org")

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    server = DevServer(
        args.port,
        user=args.user,
        email=args.email,
        org=args.org,
        role=args.role,
        seed=not args.no_seed,
        dynamodb_port=args.dynamodb_port,
        stripe_port=args.stripe_port,
        auth=args.auth,
    )
    try:
        server.start()
        print(server.banner(), flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    except LocalServerError as exc:
        raise SystemExit("\n".join(f"local.server: {line}" for line in exc.problems)) from None
    finally:
        # The terminal signals uv and python alike, and uv passes signals on: the same Ctrl-C
        # can arrive twice, and the second must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.stop()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
