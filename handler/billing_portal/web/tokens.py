"""JWT verification against the issuer's published keys (JWKS), for when no authorizer ran.

PyJWT does the cryptography, the claim checks and the parsing of the issuer's keys
(``PyJWKClient``). The key cache is ours because the contract asks for more than
``PyJWKClient``'s cache gives: its cooldown starts only after a *successful* fetch (so while the
issuer is down every forged ``kid`` would fetch again), and an expired cache whose refresh fails
loses the keys it knew. Here every fetch attempt starts the interval, and a failed fetch keeps
the keys already known.

The download is ours too (``BoundedJWKClient``): ``PyJWKClient``'s timeout applies to each socket
read, so an issuer trickling a byte a second holds the request for as long as it likes, and it
reads any size. Ours is bounded as a whole, in time and in bytes, and a document that is not a
plain JWKS (a ``kid`` that is a list, deep nesting) is a failed fetch rather than a crash.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import jwt
import requests
import urllib3
from aws_lambda_powertools import Logger

from billing_portal import budget
from billing_portal.errors import InvalidToken, UpstreamUnavailable

logger = Logger(child=True)

# Asymmetric only: "none" and HMAC (HS*) are never accepted, whatever the token's header says.
ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
LEEWAY_SECONDS = 60
REFETCH_INTERVAL_SECONDS = 10.0
# Keys the issuer has withdrawn stop working within this time in a long-lived container.
KEYS_MAX_AGE_SECONDS = 3600.0
TOKEN_USES = ("id", "access")  # Cognito; "refresh" tokens (and anything else) are refused
# Real key sets are a few KiB (Entra ID's, with certificate chains, about 10).
JWKS_MAX_BYTES = 64 * 1024
# The JWK members PyJWT reads are strings, but for these lists of strings (RFC 7517, 7518).
JWK_STRING_MEMBERS = frozenset(
    {"kty", "use", "alg", "kid", "crv", "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi", "k"}
)
JWK_LIST_MEMBERS = frozenset({"key_ops", "x5c"})

# What a 401 says, in general terms: never the token or a claim's value.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidIssuerError, "The token was issued by another issuer."),
    (jwt.InvalidSignatureError, "The token's signature is invalid."),
    (jwt.InvalidAlgorithmError, "The token's signing algorithm is not accepted."),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim."),
    (jwt.InvalidIssuedAtError, "The token's issue time is invalid."),
)


# What a download may raise; urllib3's own errors come from reading the body (a read timeout, a
# connection cut mid-body), which requests does not wrap when streaming.
_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError)
_DOWNLOAD_ERRORS = (*_NETWORK_ERRORS, jwt.PyJWTError, OSError)


class BoundedJWKClient(jwt.PyJWKClient):
    """``PyJWKClient`` whose download takes at most ``timeout`` seconds in all (connecting,
    headers and body, however slowly the issuer sends them) and ``JWKS_MAX_BYTES``, and whose
    document must be a plain JWKS. Every failure is a ``PyJWKClientError``."""

    def fetch_data(self) -> Any:
        outcome: list[Any] = []

        def download() -> None:
            try:
                outcome.append(_download(self.uri, self.timeout))
            except _DOWNLOAD_ERRORS as exc:
                outcome.append(exc)  # handed to the waiting request below

        # A thread, because no timeout of requests (or urllib) bounds a whole response. One that
        # outlives the wait is abandoned; its own per-read timeout and size cap end it.
        worker = threading.Thread(target=download, name="jwks-download", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not outcome:
            raise jwt.PyJWKClientConnectionError(
                f"The JWKS download took longer than {self.timeout:g} s"
            )
        if isinstance(outcome[0], _NETWORK_ERRORS):
            raise jwt.PyJWKClientConnectionError(f"The JWKS download failed: {outcome[0]}")
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return _plain_jwks(outcome[0])


def _download(url: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    # No redirects: the keys come from the configured URL, as PyJWKClient has it.
    with requests.get(
        url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
    ) as response:
        if response.status_code != 200:
            raise jwt.PyJWKClientConnectionError(
                f"The JWKS endpoint answered {response.status_code}"
            )
        body = b""
        # One read at a time, so that an abandoned download also stops soon after the deadline.
        while len(body) <= JWKS_MAX_BYTES and time.monotonic() < deadline:
            chunk = response.raw.read1(8192, decode_content=False)
            if not chunk:
                return body
            body += chunk
    raise jwt.PyJWKClientError(
        f"The JWKS is larger than {JWKS_MAX_BYTES} bytes or took over {timeout:g} s"
    )


def _plain_jwks(body: bytes) -> dict[str, Any]:
    """The JWKS as ``{"keys": [{"kid": "...", ...}, ...]}`` with the members PyJWT reads of the
    type it assumes, or PyJWKClientError (a ``kid`` that is a list raises TypeError in PyJWT)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python recurses
        raise jwt.PyJWKClientError("The JWKS is not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise jwt.PyJWKClientError("The JWKS has no list of keys")
    for key in keys:
        for name, value in key.items():
            if name in JWK_LIST_MEMBERS:
                plain = isinstance(value, list) and all(isinstance(item, str) for item in value)
            else:
                plain = name not in JWK_STRING_MEMBERS or isinstance(value, str)
            if not plain:
                raise jwt.PyJWKClientError(f"The JWKS has a key whose '{name}' is malformed")
    return {"keys": keys}


class SigningKeys:
    """The issuer's signing keys by ``kid``, kept for the life of the process.

    A fetch happens when the keys are needed and unknown (first use, a new ``kid`` after a key
    rotation, keys older than KEYS_MAX_AGE_SECONDS), but at most once per REFETCH_INTERVAL_SECONDS
    whether or not it succeeds, so a flood of tokens with made-up ``kid``s costs one fetch per
    interval. ``clock`` is injectable so tests can move time instead of sleeping.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REFETCH_INTERVAL_SECONDS,
        timeout: float = budget.JWKS_FETCH_TIMEOUT,
    ) -> None:
        # Used only to download and parse; caching is ours (see the module docstring).
        self._client = BoundedJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._clock = clock
        self._interval = interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = threading.Lock()

    def forget_ages(self) -> None:
        """After a snapshot restore the clock's readings say nothing about the keys' age: treat
        them as due for a refresh (keeping them, should the fetch fail)."""
        with self._lock:
            self._fetched_at = self._attempted_at = None

    def get(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if self._needs_fetch(kid) and self._may_fetch():
                self._fetch()
            key = self._keys.get(kid)
            known_any = bool(self._keys)
        if key is not None:
            return key
        if not known_any:
            raise UpstreamUnavailable(
                "The token issuer's signing keys could not be fetched.",
                retry_after=int(self._interval),
                upstream="issuer",
                reason="no-keys",
            )
        raise InvalidToken("The token was signed with a key the issuer does not publish.")

    def _needs_fetch(self, kid: str) -> bool:
        if kid not in self._keys or self._fetched_at is None:
            return True
        return self._clock() - self._fetched_at >= KEYS_MAX_AGE_SECONDS

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._interval

    def _fetch(self) -> None:
        self._attempted_at = self._clock()
        try:
            keys = self._client.get_signing_keys()
        # PyJWKClient wraps HTTP errors in PyJWTError but lets a body that is not JSON
        # (ValueError) or a connection reset mid-read (OSError) through.
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            # The keys we already know stay: an outage of the issuer must not log everyone out.
            logger.warning(
                "Could not fetch the issuer's signing keys",
                extra={"error": type(exc).__name__, "detail": str(exc)},
            )
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}
        self._fetched_at = self._attempted_at


class TokenVerifier:
    """Checks a JWT the way API Gateway's JWT authorizer would, and a little more strictly."""

    def __init__(self, issuer: str, audiences: Collection[str], keys: SigningKeys) -> None:
        self._issuer = issuer
        self._audiences = frozenset(audiences)
        self._keys = keys

    def restored(self) -> None:
        self._keys.forget_ages()

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or Unauthenticated (401) saying in general terms what is wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The token is malformed.") from None
        # Checked before any key lookup, so "none"/HS256 tokens never cause a JWKS fetch.
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("The token's signing algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The token does not name its signing key.")
        key = self._keys.get(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                # The audience is checked below: Cognito access tokens carry client_id, not aud.
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.InvalidTokenError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), None)
            raise InvalidToken(reason or "The token is malformed.") from None
        if "token_use" in claims and claims["token_use"] not in TOKEN_USES:
            raise InvalidToken("The token is neither an ID token nor an access token.")
        if not self._audiences.intersection(_audiences_of(claims)):
            raise InvalidToken("The token was issued for another audience.")
        return claims


def _audiences_of(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if aud is None and claims.get("token_use") == "access":
        aud = claims.get("client_id")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [item for item in aud if isinstance(item, str)]
    return []
