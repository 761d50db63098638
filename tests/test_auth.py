"""Who is asking, end to end: tokens verified in the function (bearer and cookie), every attack a
401 that reaches neither DynamoDB nor Stripe, the cookie CSRF check, CORS and preflights.

Real v2 events through the real lambda_handler; the issuer is testing/jwks_server.py (keys made
here, JWKS over HTTP on 127.0.0.1), DynamoDB is moto, Stripe is the stand-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import botocore.session
import jwt
import pytest

from billing_portal.settings import Settings, SettingsError
from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, problem
from testing.harness import DEMO_SETTINGS, LambdaContext
from testing.jwks_server import ISSUER, Issuer
from tools.cfn import Stack

APP_ORIGIN = "https://app.example.com"
COOKIE = "session"
INVALID_TOKEN = 'Bearer error="invalid_token"'


@pytest.fixture
def auth_env(monkeypatch: pytest.MonkeyPatch, verified_tokens: Issuer) -> None:
    """Tokens verified in the function, for two apps (audiences), and the session cookie."""
    monkeypatch.setenv("AUTH_JWT_AUDIENCE", "web-client, mobile-client")
    monkeypatch.setenv("AUTH_COOKIE_NAME", COOKIE)


@pytest.fixture
def handler(
    auth_env: None, customer: str, session: botocore.session.Session, dynamodb_calls: list[str]
) -> Any:
    return build_handler(session=session)


def call(
    handler: Any,
    *,
    bearer: str | None = None,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    name: str = "no-identity",
) -> dict[str, Any]:
    """A browser-like request with no authorizer claims, carrying the given credentials."""
    extra = dict(headers or {})
    if bearer is not None:
        extra["authorization"] = f"Bearer {bearer}"
    data = event(name, headers=extra, method=method)
    if cookie is not None:
        data["cookies"] = ["theme=dark", f"{COOKIE}={cookie}"]
    response: dict[str, Any] = handler(data, LambdaContext())
    return response


# --- valid identities -------------------------------------------------------------------------


def test_a_valid_bearer_token_reaches_the_portal(
    handler: Any, issuer: Issuer, fake_stripe: FakeStripe, dynamodb_calls: list[str]
) -> None:
    response = call(handler, bearer=issuer.token())

    assert response["statusCode"] == 303
    assert dynamodb_calls == ["GetItem"]
    assert len(fake_stripe.calls("POST", "/v1/billing_portal/sessions")) == 1


def test_a_valid_session_cookie_from_the_app_reaches_the_portal(
    handler: Any, issuer: Issuer
) -> None:
    response = call(handler, cookie=issuer.token(), headers={"origin": APP_ORIGIN})

    assert response["statusCode"] == 303


def test_a_cognito_access_token_is_checked_by_client_id(handler: Any, issuer: Issuer) -> None:
    access = issuer.claims(aud=None, token_use="access", client_id="mobile-client")
    other_client = issuer.claims(aud=None, token_use="access", client_id="someone-elses-app")

    assert call(handler, bearer=issuer.token(access))["statusCode"] == 303
    response = call(handler, bearer=issuer.token(other_client))
    assert response["statusCode"] == 401
    assert "audience" in problem(response)["detail"]


def test_authorizer_claims_win_over_any_token(handler: Any, issuer: Issuer) -> None:
    response = call(handler, name="home", bearer="garbage", cookie="garbage")

    assert response["statusCode"] == 303
    assert issuer.fetches == 0


def test_the_jwks_is_fetched_once_per_container(handler: Any, issuer: Issuer) -> None:
    responses = [call(handler, bearer=issuer.token()) for _ in range(3)]

    assert [r["statusCode"] for r in responses] == [303, 303, 303]
    assert issuer.fetches == 1


# --- attacks ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(issuer: Issuer) -> str:
    """The classic key-confusion forgery: HMAC keyed with the issuer's public key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
    payload = _b64(json.dumps(issuer.claims()).encode())
    mac = hmac.new(issuer.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(mac.digest())}"


def _tampered(issuer: Issuer) -> str:
    header, _, signature = issuer.token().split(".")
    payload = _b64(json.dumps(issuer.claims(sub="someone-else")).encode())
    return f"{header}.{payload}.{signature}"


ATTACKS = {
    "alg none": (
        lambda i: jwt.encode(i.claims(), None, algorithm="none", headers={"kid": i.kid}),
        "algorithm",
    ),
    "HS256 signed with the public key": (_hs256_with_public_key, "algorithm"),
    "wrong issuer": (lambda i: i.token(i.claims(iss="https://evil.example")), "issuer"),
    "wrong audience": (lambda i: i.token(i.claims(aud="someone-elses-app")), "audience"),
    "expired": (lambda i: i.token(i.claims(exp=int(time.time()) - 120)), "expired"),
    "not yet valid": (lambda i: i.token(i.claims(nbf=int(time.time()) + 600)), "not valid yet"),
    "no expiry": (lambda i: i.token(i.claims(exp=None)), "required claim"),
    "tampered payload": (_tampered, "signature"),
    "unknown kid": (lambda i: i.token(kid="not-a-published-key"), "does not publish"),
    "missing user claim": (lambda i: i.token(i.claims(sub=None)), "'sub' claim"),
    "garbage": (lambda i: "not-a-jwt", "malformed"),
    "cognito refresh-type token": (
        lambda i: i.token(i.claims(token_use="refresh")),
        "neither an ID token nor an access token",
    ),
}


@pytest.mark.parametrize("via", ["bearer", "cookie"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_attack_is_a_401_that_reaches_neither_dynamodb_nor_stripe(
    handler: Any,
    issuer: Issuer,
    fake_stripe: FakeStripe,
    dynamodb_calls: list[str],
    attack: str,
    via: str,
) -> None:
    make, reason = ATTACKS[attack]
    token = make(issuer)
    credentials = {"bearer": token} if via == "bearer" else {"cookie": token}

    response = call(handler, headers={"origin": APP_ORIGIN}, **credentials)

    body = problem(response)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == INVALID_TOKEN
    assert body["type"].endswith("/unauthenticated")
    assert reason in body["detail"]
    assert token not in response["body"]
    assert dynamodb_calls == []
    assert fake_stripe.calls() == []


def test_no_token_at_all_is_a_plain_bearer_challenge(
    handler: Any, dynamodb_calls: list[str]
) -> None:
    response = call(handler)

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == "Bearer"
    assert dynamodb_calls == []


def test_without_an_issuer_no_token_is_trusted(
    env: dict[str, str], customer: str, issuer: Issuer
) -> None:
    response = call(build_handler(), bearer=issuer.token())

    assert response["statusCode"] == 401
    assert issuer.fetches == 0


def test_an_unreachable_issuer_is_a_503_to_retry_not_a_401(
    handler: Any, issuer: Issuer, dynamodb_calls: list[str]
) -> None:
    issuer.failing = True

    response = call(handler, bearer=issuer.token())

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "10"
    assert problem(response)["type"].endswith("/upstream-unavailable")
    assert dynamodb_calls == []


# --- a hostile or broken issuer ---------------------------------------------------------------


def _with_key(change: dict[str, Any]) -> Any:
    """The issuer's JWKS with its one key changed."""
    return lambda i: {"keys": [{**i.jwks()["keys"][0], **change}]}


# A JWKS document that is no key set: each is a failed fetch (a 503 while no key is known), never
# a 500, and the function's own time is never spent waiting for it.
BROKEN_JWKS: dict[str, Any] = {
    "nested 20,000 deep": lambda i: b'{"keys": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    "keys that is an object": lambda i: {"keys": i.jwks()["keys"][0]},
    "a document that is a list": lambda i: i.jwks()["keys"],
    "over 64 KiB": lambda i: {**i.jwks(), "padding": "x" * (64 * 1024)},
}


@pytest.mark.parametrize("broken", list(BROKEN_JWKS))
def test_a_broken_jwks_is_a_failed_fetch_never_a_500(
    handler: Any, issuer: Issuer, fake_stripe: FakeStripe, dynamodb_calls: list[str], broken: str
) -> None:
    issuer.document = BROKEN_JWKS[broken](issuer)

    response = call(handler, bearer=issuer.token())

    assert response["statusCode"] == 503
    assert problem(response)["type"].endswith("/upstream-unavailable")
    assert (dynamodb_calls, fake_stripe.calls()) == ([], [])


# Entries that are no usable key (the whole table is in tests/test_tokens.py): skipped one by
# one. Beside the issuer's good key, valid tokens still reach the portal; alone, the fetch found
# no usable key: a 401, never the 500 ("alg": "none") or the 503 ("kty": null) of before.
UNUSABLE_ENTRIES: dict[str, Any] = {
    "alg none": {"alg": "none"},
    "kty null": {"kty": None},
    "a kid that is a list": {"kid": ["a", "b"]},
    "a modulus that is a list": {"n": ["AQAB"]},
}


@pytest.mark.parametrize("odd", list(UNUSABLE_ENTRIES))
def test_an_unusable_jwks_entry_is_skipped_and_alone_it_is_a_401(
    handler: Any, issuer: Issuer, dynamodb_calls: list[str], odd: str
) -> None:
    good = issuer.jwks()["keys"][0]
    issuer.document = {"keys": [{**good, "kid": "odd", **UNUSABLE_ENTRIES[odd]}, good]}

    assert call(handler, bearer=issuer.token())["statusCode"] == 303
    naming_it = call(handler, bearer=issuer.token(kid="odd"))
    assert naming_it["statusCode"] == 401
    assert naming_it["headers"]["WWW-Authenticate"] == INVALID_TOKEN


@pytest.mark.parametrize("odd", list(UNUSABLE_ENTRIES))
def test_a_jwks_of_one_unusable_entry_is_a_401(
    auth_env: None, session: botocore.session.Session, issuer: Issuer, odd: str
) -> None:
    cold = build_handler(session=session)
    issuer.document = {"keys": [{**issuer.jwks()["keys"][0], **UNUSABLE_ENTRIES[odd]}]}

    response = call(cold, bearer=issuer.token())

    assert response["statusCode"] == 401
    assert problem(response)["type"].endswith("/unauthenticated")


def test_an_issuer_trickling_its_keys_cannot_hold_the_request(
    handler: Any, issuer: Issuer, dynamodb_calls: list[str]
) -> None:
    # A byte every 50 ms never trips a per-read timeout: the whole download would take ~25 s and
    # then succeed (a 303). Bounded as a whole, it is given up on after 2 s: a failed fetch.
    issuer.trickle = 0.05

    response = call(handler, bearer=issuer.token())

    assert response["statusCode"] == 503
    assert problem(response)["type"].endswith("/upstream-unavailable")
    assert dynamodb_calls == []


def test_a_jwks_download_ends_before_the_invocation_does(
    handler: Any, issuer: Issuer, dynamodb_calls: list[str]
) -> None:
    # 1.5 s left: the download is given up on in time to answer (before: 1.82 s, past the end).
    issuer.trickle = 0.05
    started = time.monotonic()

    response = handler(
        event("no-identity", headers={"authorization": f"Bearer {issuer.token()}"}),
        LambdaContext(remaining_ms=1_500),
    )

    assert response["statusCode"] == 503
    assert time.monotonic() - started < 1.5
    assert dynamodb_calls == []


def test_tokens_never_reach_the_logs(
    handler: Any, issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    good = issuer.token()
    expired = issuer.token(issuer.claims(exp=int(time.time()) - 120))
    forged = issuer.token(kid="forged")

    call(handler, bearer=good)
    call(handler, cookie=expired, headers={"origin": APP_ORIGIN})
    call(handler, bearer=forged)

    # Every record with all its structured fields, as the JSON log line would carry them.
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logs.count("'status': 401") == 2
    for token in (good, expired, forged):
        assert token not in logs
        assert token.split(".")[2] not in logs


# --- CSRF for cookie sessions -----------------------------------------------------------------
# The app on https://app.example.com, the API on its custom domain (say billing.example.com), a
# session cookie with Domain=example.com; SameSite=Lax. Both hosts are one *site*, so a browser
# sends the cookie with a form POST or a link from the app's pages (Sec-Fetch-Site: same-site,
# with the page's Origin or Referer); a link from a page with Referrer-Policy: no-referrer
# leaves nothing to tell the app's page from another one. SameSite=Lax keeps the cookie off a
# cross-site POST; the Origin check is the second lock, for browsers or cookies without it.


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": "https://evil.example"}, 403),
        ({"origin": "null"}, 403),
        ({"origin": APP_ORIGIN, "sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"referer": "https://evil.example/page"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"origin": APP_ORIGIN, "sec-fetch-site": "same-site"}, 303),
        ({"referer": f"{APP_ORIGIN}/settings", "sec-fetch-site": "same-site"}, 303),
        ({"sec-fetch-site": "same-origin"}, 303),
        ({"sec-fetch-site": "none"}, 303),
        ({}, 303),
    ],
)
def test_cookie_requests_must_come_from_an_allowed_origin(
    handler: Any,
    issuer: Issuer,
    fake_stripe: FakeStripe,
    dynamodb_calls: list[str],
    headers: dict[str, str],
    status: int,
) -> None:
    response = call(handler, cookie=issuer.token(), headers=headers)

    assert response["statusCode"] == status
    if status == 403:
        assert problem(response)["type"].endswith("/forbidden-origin")
        assert dynamodb_calls == []
        assert fake_stripe.calls() == []


def test_two_session_cookies_are_a_401_never_the_last_one_wins(
    handler: Any, issuer: Issuer, fake_stripe: FakeStripe, dynamodb_calls: list[str]
) -> None:
    # A sibling subdomain can plant its own cookie of the same name next to the victim's.
    planted, victims = issuer.token(issuer.claims(sub="attacker")), issuer.token()
    data = event("no-identity", headers={"origin": APP_ORIGIN})
    data["cookies"] = [f"{COOKIE}={victims}", "theme=dark", f"{COOKIE}={planted}"]

    response = handler(data, LambdaContext())

    assert response["statusCode"] == 401
    assert dynamodb_calls == []
    assert fake_stripe.calls() == []


def test_bearer_requests_are_not_subject_to_the_origin_check(handler: Any, issuer: Issuer) -> None:
    headers = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}

    response = call(handler, bearer=issuer.token(), headers=headers)

    assert response["statusCode"] == 303
    assert "Access-Control-Allow-Origin" not in response["headers"]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080"])
def test_a_local_identity_provider_may_use_plain_http(host: str) -> None:
    # Keycloak or a mock OIDC server on the developer's machine.
    issuer = f"http://{host}/realms/dev"

    settings = Settings.from_environ(
        {**DEMO_SETTINGS, "AUTH_JWT_ISSUER": issuer, "AUTH_JWT_AUDIENCE": "web"}
    )

    assert settings.auth_jwt_issuer == issuer


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"AUTH_JWT_ISSUER": ISSUER}, "AUTH_JWT_AUDIENCE"),
        ({"AUTH_COOKIE_NAME": COOKIE}, "AUTH_COOKIE_NAME"),
        (
            {
                "AUTH_JWT_ISSUER": ISSUER,
                "AUTH_JWT_AUDIENCE": "web-client",
                "AUTH_JWKS_URL": "http://keys.example/jwks.json",
            },
            "AUTH_JWKS_URL",
        ),
        (
            {"AUTH_JWT_ISSUER": "http://issuer.example/realms/dev", "AUTH_JWT_AUDIENCE": "web"},
            "AUTH_JWT_ISSUER",
        ),
    ],
)
def test_incomplete_auth_settings_fail_at_start_naming_the_setting(
    changes: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_environ({**DEMO_SETTINGS, **changes})


def test_a_cookie_name_without_in_function_auth_is_refused_before_anything_is_created() -> None:
    # Only the function reads the cookie: behind API Gateway's authorizer it would be ignored.
    assert Stack(AuthCookieName="session").rule_failures() == ["CookieNeedsInFunctionAuth"]
