"""JWT verification against the issuer's published keys (JWKS), for when no authorizer ran.

PyJWT does the cryptography, the claim checks and the parsing of the issuer's keys
(``PyJWKClient``). The key cache is ours because the contract asks for more than
``PyJWKClient``'s cache gives: its cooldown starts only after a *successful* fetch (so while the
issuer is down every forged ``kid`` would fetch again), and an expired cache whose refresh fails
loses the keys it knew. Here every fetch attempt starts the interval, and a failed fetch keeps
the keys already known.

The download is ours too (``BoundedJWKClient``): ``PyJWKClient``'s timeout applies to each socket
read, so an issuer trickling a byte a second holds the request for as long as it likes, and it
reads any size. Ours is bounded as a whole, in time (2 s, and never past the invocation's
deadline) and in bytes, and a document that is not a JSON object with a ``keys`` list (deep
nesting, a list) is a failed fetch rather than a crash.

The entries are ours to judge too, one by one (``usable_key``): PyJWT's key set skips some
unusable entries but not all (``"alg": "none"`` raises NotImplementedError, a private key would
raise AttributeError when verifying), and one odd entry must not cost the issuer's other keys.
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
TIME_CLAIMS = ("exp", "nbf", "iat")
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
# Key types of the asymmetric algorithms above, with the members their public keys need.
PUBLIC_KEY_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
# Members only a private (or symmetric) key has: such an entry is no public key to verify with.
SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Time kept back, when the invocation is nearly over, for answering after a download given up.
JWKS_RESERVE = budget.RESERVE

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
    """The JWKS as ``{"keys": [...]}``, or PyJWKClientError when the document is not one. Its
    entries are judged later, one by one (``usable_key``)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python recurses
        raise jwt.PyJWKClientError("The JWKS is not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise jwt.PyJWKClientError("The JWKS has no list of keys")
    return {"keys": keys}


def usable_key(entry: object) -> jwt.PyJWK | str:
    """The entry as a key to verify tokens with, or why it is none (a short reason for the log:
    never a member's value). Usable: an asymmetric public key for one of ALGORITHMS, with a
    string ``kid`` and every member PyJWT reads of the type it assumes."""
    if not isinstance(entry, dict):
        return "not an object"
    for name, value in entry.items():
        if name in JWK_LIST_MEMBERS:
            plain = isinstance(value, list) and all(isinstance(item, str) for item in value)
        else:
            plain = name not in JWK_STRING_MEMBERS or isinstance(value, str)
        if not plain:
            return f"its '{name}' is malformed"
    if not entry.get("kid"):
        return "no 'kid'"
    kty = entry.get("kty")
    if kty not in PUBLIC_KEY_MEMBERS:
        return "no asymmetric 'kty'"
    if "alg" in entry and entry["alg"] not in ALGORITHMS:
        return "an 'alg' that is not accepted"
    if entry.get("use", "sig") != "sig":
        return "not a signing key"
    if any(name not in entry for name in PUBLIC_KEY_MEMBERS[kty]):
        return "missing members"
    if SECRET_MEMBERS.intersection(entry):
        return "not a public key"
    try:
        key = jwt.PyJWK(entry)
        # What verifying checks of the key (an ES256 key on P-384): judged now, not per token.
        key.Algorithm.prepare_key(key.key)
    # PyJWT's own errors, and what its algorithms raise on odd input (NotImplementedError,
    # ValueError from a malformed base64 or a point not on the curve).
    except (jwt.PyJWTError, NotImplementedError, ValueError, TypeError, KeyError):
        return "not a key PyJWT can read"
    if key.algorithm_name not in ALGORITHMS:  # ES256K (secp256k1), say
        return "an algorithm that is not accepted"
    return key


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
        deadline: budget.Deadline | None = None,
    ) -> None:
        # Used only to download; caching and judging the keys are ours (the module docstring).
        self._client = BoundedJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        # The invocation's: a download never runs past it (see fetch_timeout).
        self._deadline = deadline or budget.Deadline()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        # The issuer answered a document, usable keys or not: no keys is then a 401, not a 503.
        self._answered = False
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
            answered = self._answered
        if key is not None:
            return key
        if not known_any and not answered:
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

    def fetch_timeout(self) -> float:
        """The download's bound: JWKS_FETCH_TIMEOUT, and never past the invocation's deadline
        (less JWKS_RESERVE, to answer the 503 in time)."""
        left = self._deadline.remaining_ms() / 1000 - JWKS_RESERVE
        return min(self._timeout, left)

    def _fetch(self) -> None:
        timeout = self.fetch_timeout()
        if timeout < budget.MIN_ATTEMPT:
            # No time to download: not an attempt, so the next request may fetch at once.
            logger.warning("No time left to fetch the issuer's signing keys")
            self._answered = False
            return
        self._attempted_at = self._clock()
        self._client.timeout = timeout
        try:
            document = self._client.fetch_data()
        # PyJWKClient wraps HTTP errors in PyJWTError but lets a body that is not JSON
        # (ValueError) or a connection reset mid-read (OSError) through.
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            # The keys we already know stay: an outage of the issuer must not log everyone out.
            logger.warning(
                "Could not fetch the issuer's signing keys",
                extra={"error": type(exc).__name__, "detail": str(exc)},
            )
            self._answered = False
            return
        self._answered = True
        keys: dict[str, jwt.PyJWK] = {}
        skipped: list[str] = []
        for index, entry in enumerate(document["keys"]):
            judged = usable_key(entry)
            if isinstance(judged, str):
                skipped.append(f"entry {index}: {judged}")
            else:
                keys[str(judged.key_id)] = judged
        if skipped:
            # Which entries and why, never their values: the issuer's operator can fix them.
            logger.warning(
                "Skipped the issuer's JWKS entries that are no usable public key",
                extra={"skipped": skipped[:20], "usable": len(keys)},
            )
        if not keys:
            return  # a fetch that found no usable key: the keys known before stay
        self._keys = keys
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
        # PyJWTError, not only InvalidTokenError: a key PyJWT refuses only at verification
        # (InvalidKeyError) is still the token's failure, never a 500.
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), None)
            raise InvalidToken(reason or "The token is malformed.") from None
        # PyJWT reads "exp": "9999999999" as a number; RFC 7519 says NumericDate, a JSON number.
        for name in TIME_CLAIMS:
            if name in claims and not _is_number(claims[name]):
                raise InvalidToken(f"The token's '{name}' is not a number.")
        if "token_use" in claims and claims["token_use"] not in TOKEN_USES:
            raise InvalidToken("The token is neither an ID token nor an access token.")
        if not self._audiences.intersection(_audiences_of(claims)):
            raise InvalidToken("The token was issued for another audience.")
        return claims


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audiences_of(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if aud is None and claims.get("token_use") == "access":
        aud = claims.get("client_id")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [item for item in aud if isinstance(item, str)]
    return []
