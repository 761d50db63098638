"""JWT verification against the issuer's published keys (JWKS), for when no authorizer ran.

PyJWT does the cryptography, the claim checks and the JWKS download (``PyJWKClient``, which also
refuses redirects and non-http schemes). The key cache is ours because the contract asks for
more than ``PyJWKClient``'s cache gives: its cooldown starts only after a *successful* fetch (so
while the issuer is down every forged ``kid`` would fetch again), and an expired cache whose
refresh fails loses the keys it knew. Here every fetch attempt starts the interval, and a failed
fetch keeps the keys already known.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import jwt
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
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
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
