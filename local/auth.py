"""Who checks the token in the local server, as template.yaml's AuthMode deploys it, and the
local identity provider whose real signed tokens every mode uses.

    authorizer  API Gateway's JWT authorizer (AuthMode=api-gateway), played by the server
    function    the function verifies the bearer token itself (AuthMode=function)
    cookie      the function verifies the token in the session cookie (+ AuthCookieName)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt

from testing.jwks_server import Issuer

AUTH_MODES = ("authorizer", "function", "cookie")
# The local identity provider: its tokens are real, signed JWTs, checked like any issuer's.
LOCAL_ISSUER = "http://127.0.0.1/local-issuer"
AUDIENCE = "billing-portal-local"
COOKIE_NAME = "id_token"
TOKEN_SECONDS = 3600
UNAUTHORIZED = b'{"message":"Unauthorized"}'  # API Gateway's own 401, before the function
# What the demo page says each button stands for, per mode.
NOTES = {
    "authorizer": {
        "auth": "API Gateway's JWT authorizer (AuthMode=api-gateway), played by this server: a "
        "request with a bearer token passes only if the token is valid (else API Gateway's own "
        "401, before the function runs), and its claims reach the function.",
        "form": "It sends no token: this server signs it in as you anyway, a local shortcut; a "
        "deployed AuthMode=api-gateway answers it 401 (forms need cookie mode).",
        "token": "It sends the local issuer's signed token as a bearer token (the expired one "
        "gets API Gateway's 401).",
    },
    "function": {
        "auth": "The function verifies the bearer token itself (AuthMode=function), against the "
        "local issuer's keys (JWKS).",
        "form": "It sends no token: the function answers 401 (forms need cookie mode).",
        "token": "It sends the local issuer's signed token as a bearer token (the expired one "
        "gets the function's 401 problem).",
    },
    "cookie": {
        "auth": f"The function verifies the token in the {COOKIE_NAME} cookie (AuthMode=function "
        f"with AuthCookieName={COOKIE_NAME}) and checks the Origin (CSRF): sign in to set it.",
        "form": "It sends the cookie: the portal once signed in, 401 before; from an origin "
        "not in ALLOWED_ORIGINS, 403.",
        "token": "It sends the cookie, no token (the expired button sends an expired bearer "
        "token, which the function refuses even with a good cookie).",
    },
}


class LocalIssuer:
    """The local identity provider: RS256 keys, a JWKS endpoint on 127.0.0.1, tokens for the
    signed-in user, and the check API Gateway's authorizer makes of them."""

    def __init__(self) -> None:
        self._issuer = Issuer(LOCAL_ISSUER)

    def start(self) -> LocalIssuer:
        self._issuer.__enter__()
        return self

    def stop(self) -> None:
        self._issuer.__exit__()

    def function_settings(self, mode: str) -> dict[str, str | None]:
        """The function's AUTH_* settings in this mode (None: unset): none behind the
        authorizer, the issuer for the others, and the cookie's name in cookie mode."""
        verify = mode != "authorizer"
        return {
            "AUTH_JWT_ISSUER": LOCAL_ISSUER if verify else None,
            "AUTH_JWT_AUDIENCE": AUDIENCE if verify else None,
            "AUTH_JWKS_URL": self._issuer.jwks_url if verify else None,
            "AUTH_COOKIE_NAME": COOKIE_NAME if mode == "cookie" else None,
        }

    def token(self, claims: dict[str, Any], *, expired: bool = False) -> str:
        """A signed token with these claims, valid for an hour (or expired an hour ago)."""
        now = int(time.time()) - (2 * TOKEN_SECONDS if expired else 0)
        issued = {"iss": LOCAL_ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + TOKEN_SECONDS}
        return self._issuer.token({**claims, **issued})

    def authorize(self, authorization: Iterable[str]) -> dict[str, str] | None:
        """API Gateway's JWT authorizer: the claims of one valid bearer token, as the strings
        it passes on; None for anything else (its 401)."""
        found = list(authorization)
        scheme, _, token = found[0].partition(" ") if len(found) == 1 else ("", "", "")
        if scheme.lower() != "bearer":
            return None
        try:
            kid = str(jwt.get_unverified_header(token).get("kid"))
            _, key = self._issuer.keys[kid]
            claims = jwt.decode(
                token, key.public_key(), ["RS256"], audience=AUDIENCE, issuer=LOCAL_ISSUER
            )
        except (jwt.PyJWTError, KeyError, TypeError):
            return None
        return {name: str(value) for name, value in claims.items()}


def session_cookie(token: str | None) -> str:
    """The cookie a sign-in sets (a token) or a sign-out clears (None), as an app's login would."""
    if token is None:
        return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    return f"{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax"
