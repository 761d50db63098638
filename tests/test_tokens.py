"""The JWKS key cache: rotation, bounded fetches under a burst of forged kids, outages.

Real tokens, real PyJWT, a real JWKS endpoint on 127.0.0.1 (testing/jwks_server.py) whose
requests are counted; time is a clock the test moves, so nothing sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from billing_portal import budget
from billing_portal.errors import Unauthenticated, UpstreamUnavailable
from billing_portal.web.tokens import (
    JWKS_MAX_BYTES,
    KEYS_MAX_AGE_SECONDS,
    REFETCH_INTERVAL_SECONDS,
    SigningKeys,
    TokenVerifier,
)
from testing.jwks_server import ISSUER, Issuer, _first_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(issuer: Issuer, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ISSUER, ["web-client"], SigningKeys(issuer.jwks_url, clock=clock))


def rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    return caught.value.detail


def test_keys_are_fetched_once_and_reused(verifier: TokenVerifier, issuer: Issuer) -> None:
    for _ in range(5):
        assert verifier.verify(issuer.token())["sub"] == "demo-user"

    assert issuer.fetches == 1


def test_a_rotated_key_is_accepted_after_one_refetch(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier.verify(issuer.token())
    issuer.rotate()
    clock.advance(REFETCH_INTERVAL_SECONDS)

    claims = verifier.verify(issuer.token())

    assert claims["sub"] == "demo-user"
    assert issuer.fetches == 2


def test_a_new_kid_right_after_a_fetch_waits_for_the_interval(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier.verify(issuer.token())
    issuer.rotate()
    clock.advance(REFETCH_INTERVAL_SECONDS - 0.1)

    assert "does not publish" in rejected(verifier, issuer.token())
    assert issuer.fetches == 1

    clock.advance(0.1)
    assert verifier.verify(issuer.token())["sub"] == "demo-user"
    assert issuer.fetches == 2


def test_a_burst_of_unknown_kids_makes_one_fetch_per_interval(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier.verify(issuer.token())
    clock.advance(REFETCH_INTERVAL_SECONDS)

    details = {rejected(verifier, issuer.token(kid=f"forged-{i}")) for i in range(100)}

    assert details == {"The token was signed with a key the issuer does not publish."}
    assert issuer.fetches == 2  # the first verification's fetch, then one for the whole burst

    clock.advance(REFETCH_INTERVAL_SECONDS - 0.1)
    rejected(verifier, issuer.token(kid="forged-again"))
    assert issuer.fetches == 2

    clock.advance(0.1)
    rejected(verifier, issuer.token(kid="forged-later"))
    assert issuer.fetches == 3


def test_a_failed_refetch_keeps_the_known_keys(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    known = issuer.token()
    verifier.verify(known)
    issuer.failing = True
    clock.advance(REFETCH_INTERVAL_SECONDS)

    rejected(verifier, issuer.token(kid="forged"))
    clock.advance(KEYS_MAX_AGE_SECONDS)  # even keys due for a refresh stay while it fails

    assert verifier.verify(known)["sub"] == "demo-user"
    assert issuer.fetches == 3  # first fetch, the forged kid's refetch, the age refresh


def test_no_keys_at_all_is_a_503_retried_once_per_interval(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    issuer.failing = True

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable) as caught:
            verifier.verify(issuer.token())
    assert caught.value.headers["Retry-After"] == "10"
    assert issuer.fetches == 1

    issuer.failing = False
    clock.advance(REFETCH_INTERVAL_SECONDS)
    assert verifier.verify(issuer.token())["sub"] == "demo-user"
    assert issuer.fetches == 2


def test_a_jwks_answer_that_is_not_json_is_an_outage_not_a_crash(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    known = issuer.token()
    issuer.garbled = True

    with pytest.raises(UpstreamUnavailable):
        verifier.verify(known)

    issuer.garbled = False
    clock.advance(REFETCH_INTERVAL_SECONDS)
    verifier.verify(known)
    issuer.garbled = True
    clock.advance(KEYS_MAX_AGE_SECONDS)
    assert verifier.verify(known)["sub"] == "demo-user"


def test_a_slow_jwks_endpoint_is_given_up_on(issuer: Issuer, clock: Clock) -> None:
    issuer.delay = 2.0
    keys = SigningKeys(issuer.jwks_url, clock=clock, timeout=0.2)
    verifier = TokenVerifier(ISSUER, ["web-client"], keys)

    with pytest.raises(UpstreamUnavailable):
        verifier.verify(issuer.token())


def test_a_withdrawn_key_stops_working_once_the_keys_are_refreshed(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    old = issuer.token()
    verifier.verify(old)
    issuer.rotate(withdraw_old=True)

    clock.advance(KEYS_MAX_AGE_SECONDS)

    assert "does not publish" in rejected(verifier, old)
    assert verifier.verify(issuer.token())["sub"] == "demo-user"
    assert issuer.fetches == 2


@pytest.mark.parametrize("algorithm", ["PS256", "ES256", "EdDSA"])
def test_other_asymmetric_algorithms_are_accepted(
    verifier: TokenVerifier, issuer: Issuer, algorithm: str
) -> None:
    issuer.rotate(algorithm=algorithm)

    assert verifier.verify(issuer.token())["sub"] == "demo-user"


def test_a_token_whose_alg_differs_from_its_keys_is_refused(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    issuer.rotate(algorithm="PS256")
    rs256_key = issuer.keys[issuer.kid][1]
    token = jwt.encode(issuer.claims(), rs256_key, algorithm="RS256", headers={"kid": issuer.kid})

    assert "algorithm" in rejected(verifier, token)


def test_a_malformed_refetch_keeps_the_known_keys_and_an_unknown_kid_is_a_401(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    known = issuer.token()
    verifier.verify(known)
    issuer.rotate()
    issuer.document = {"keys": [{**key, "kid": [key["kid"]]} for key in issuer.jwks()["keys"]]}
    clock.advance(REFETCH_INTERVAL_SECONDS)

    assert "does not publish" in rejected(verifier, issuer.token())
    assert verifier.verify(known)["sub"] == "demo-user"
    assert issuer.fetches == 2


def test_a_jwks_larger_than_64_kib_is_refused_and_one_just_under_is_read(
    issuer: Issuer, clock: Clock
) -> None:
    keys = issuer.jwks()
    room = JWKS_MAX_BYTES - len(json.dumps({**keys, "padding": ""}))
    verifier = TokenVerifier(ISSUER, ["web-client"], SigningKeys(issuer.jwks_url, clock=clock))

    issuer.document = {**keys, "padding": "x" * (room + 1)}
    with pytest.raises(UpstreamUnavailable):
        verifier.verify(issuer.token())
    issuer.document = {**keys, "padding": "x" * room}
    clock.advance(REFETCH_INTERVAL_SECONDS)
    assert verifier.verify(issuer.token())["sub"] == "demo-user"


# --- JWKS entries judged one by one -----------------------------------------------------------
# Hostile or broken entries an issuer may publish, each made from a good RSA entry and named
# "odd": none is a key to verify with. Beside a good key each is skipped (the good key verifies,
# a token naming the odd entry is a 401); alone, the fetch found no usable key (a 401, never a
# 503 or a 500).
Entry = dict[str, Any]


def _changed(**change: Any) -> Callable[[Entry], Any]:
    return lambda good: {**good, "kid": "odd", **change}


def _without(member: str) -> Callable[[Entry], Any]:
    return lambda good: {k: v for k, v in {**good, "kid": "odd"}.items() if k != member}


UNUSABLE_ENTRIES: dict[str, Callable[[Entry], Any]] = {
    # an algorithm that is no asymmetric signature
    "alg none": _changed(alg="none"),
    "alg HS256": _changed(alg="HS256"),
    "alg HS512": _changed(alg="HS512"),
    "an HMAC secret (kty oct)": lambda good: {"kty": "oct", "kid": "odd", "k": "c2VjcmV0"},
    "alg RSA1_5 (encryption)": _changed(alg="RSA1_5"),
    "alg ES256K": _changed(alg="ES256K"),
    "alg an empty string": _changed(alg=""),
    "use enc": _changed(use="enc"),
    # kty
    "kty null": _changed(kty=None),
    "kty missing": _without("kty"),
    "kty unknown": _changed(kty="XYZ"),
    "kty lower case": _changed(kty="rsa"),
    "kty an object": _changed(kty={"RSA": True}),
    # members missing or of the wrong type
    "n missing": _without("n"),
    "e missing": _without("e"),
    "n a list": _changed(n=["AQAB"]),
    "n not base64url": _changed(n="!!!not base64!!!"),
    "alg a list": _changed(alg=["RS256"]),
    "x5c a string": _changed(x5c="MIIB"),
    "an EC key without y": lambda good: {"kty": "EC", "kid": "odd", "crv": "P-256", "x": "AQAB"},
    "an EC point not on the curve": lambda good: {
        "kty": "EC",
        "kid": "odd",
        "crv": "P-256",
        "alg": "ES256",
        "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE",
    },
    "an OKP key on X25519": lambda good: {"kty": "OKP", "kid": "odd", "crv": "X25519", "x": "AQ"},
    # PyJWT builds it, and refuses it only when verifying (InvalidKeyError, no InvalidTokenError)
    "an ES256 key on a P-384 curve": lambda good: {
        **json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())),
        "kid": "odd",
        "alg": "ES256",
    },
    # a private key: PyJWT builds it, and verifying with it raises AttributeError (a 500)
    "a private member d": _changed(d="AQAB"),
    "the issuer's own private key": lambda good: {
        **json.loads(RSAAlgorithm.to_jwk(_first_key())),
        "kid": "odd",
        "alg": "RS256",
    },
    # kid
    "kid missing": _without("kid"),
    "kid a number": _changed(kid=7),
    "kid a list": _changed(kid=["a", "b"]),
    "kid an object": _changed(kid={"a": 1}),
    "kid null": _changed(kid=None),
    "kid empty": _changed(kid=""),
    # not an entry at all
    "a string": lambda good: "RS256",
    "null": lambda good: None,
    "a list": lambda good: [good],
}


def _good_entry(issuer: Issuer) -> Entry:
    entry: Entry = issuer.jwks()["keys"][0]
    return entry


@pytest.mark.parametrize("odd", list(UNUSABLE_ENTRIES))
def test_an_unusable_jwks_entry_is_skipped_and_the_other_keys_still_verify(
    verifier: TokenVerifier, issuer: Issuer, odd: str
) -> None:
    good = _good_entry(issuer)
    issuer.document = {"keys": [UNUSABLE_ENTRIES[odd](good), good]}

    assert verifier.verify(issuer.token())["sub"] == "demo-user"
    assert "does not publish" in rejected(verifier, issuer.token(kid="odd"))


@pytest.mark.parametrize("odd", list(UNUSABLE_ENTRIES))
def test_a_jwks_of_unusable_entries_only_is_a_401_not_a_503(
    verifier: TokenVerifier, issuer: Issuer, odd: str
) -> None:
    issuer.document = {"keys": [UNUSABLE_ENTRIES[odd](_good_entry(issuer))]}

    assert "does not publish" in rejected(verifier, issuer.token())
    assert "does not publish" in rejected(verifier, issuer.token(kid="odd"))
    assert issuer.fetches == 1  # the second token waited for the interval


def test_a_refetch_of_unusable_entries_only_keeps_the_known_keys(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    known = issuer.token()
    verifier.verify(known)
    issuer.document = {"keys": [{**_good_entry(issuer), "alg": "none"}]}
    clock.advance(KEYS_MAX_AGE_SECONDS)

    assert verifier.verify(known)["sub"] == "demo-user"
    assert issuer.fetches == 2


# --- the download's bound: 2 s and the time the invocation has left ---------------------------


@pytest.mark.parametrize(("left_ms", "bound"), [(10_000, 2.0), (2_000, 1.5), (1_500, 1.0)])
def test_the_jwks_download_is_bounded_by_the_time_left(
    issuer: Issuer, clock: Clock, left_ms: int, bound: float
) -> None:
    deadline = budget.Deadline()
    keys = SigningKeys(issuer.jwks_url, clock=clock, deadline=deadline)
    deadline.start(left_ms)

    assert keys.fetch_timeout() == pytest.approx(bound, abs=0.05)


def test_an_issuer_trickling_its_keys_cannot_outlast_the_invocation(
    issuer: Issuer, clock: Clock
) -> None:
    # A byte every 50 ms: 2 s of it would outlast an invocation with 1.5 s left (measured
    # before: 1.82 s). The 503 is answered with time to spare.
    issuer.trickle = 0.05
    deadline = budget.Deadline()
    verifier = TokenVerifier(
        ISSUER, ["web-client"], SigningKeys(issuer.jwks_url, clock=clock, deadline=deadline)
    )
    deadline.start(1_500)
    started = time.monotonic()

    with pytest.raises(UpstreamUnavailable):
        verifier.verify(issuer.token())
    assert time.monotonic() - started < 1.3


def test_no_time_left_is_no_download_and_no_spent_interval(issuer: Issuer, clock: Clock) -> None:
    deadline = budget.Deadline()
    verifier = TokenVerifier(
        ISSUER, ["web-client"], SigningKeys(issuer.jwks_url, clock=clock, deadline=deadline)
    )
    deadline.start(600)

    with pytest.raises(UpstreamUnavailable):
        verifier.verify(issuer.token())
    assert issuer.fetches == 0
    deadline.start(10_000)
    assert verifier.verify(issuer.token())["sub"] == "demo-user"


# --- times that are not JSON numbers (PyJWT would read "9999999999" as one) -------------------
def _in(seconds: int) -> int:
    return int(time.time()) + seconds


STRING_TIMES: dict[str, Callable[[], dict[str, Any]]] = {
    "exp a numeric string": lambda: {"exp": str(_in(600))},
    "exp a float string": lambda: {"exp": f"{_in(600)}.5"},
    "exp a string with spaces": lambda: {"exp": f" {_in(600)} "},
    "nbf a numeric string": lambda: {"nbf": str(_in(-60))},
    "iat a numeric string": lambda: {"iat": str(_in(0))},
    "iat true": lambda: {"iat": True},
    "nbf false": lambda: {"nbf": False},
    "iat a list": lambda: {"iat": [_in(0)]},
}


@pytest.mark.parametrize("odd", list(STRING_TIMES))
def test_a_time_claim_that_is_not_a_number_is_a_401(
    verifier: TokenVerifier, issuer: Issuer, odd: str
) -> None:
    rejected(verifier, issuer.token(issuer.claims(**STRING_TIMES[odd]())))


def test_time_claims_that_are_numbers_verify(verifier: TokenVerifier, issuer: Issuer) -> None:
    claims = issuer.claims(exp=_in(600) + 0.5, nbf=_in(-60), iat=float(_in(0)))

    assert verifier.verify(issuer.token(claims))["sub"] == "demo-user"
