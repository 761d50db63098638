"""In-function token verification: what it costs, and how many JWKS fetches a flood of forged
key ids makes. Prints numbers; asserts nothing.

    python3 -m uv run python -m bench.auth [--tokens 2000] [--forged 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from billing_portal.errors import Unauthenticated
from billing_portal.web.tokens import REFETCH_INTERVAL_SECONDS, SigningKeys, TokenVerifier
from testing.jwks_server import Issuer


def main() -> None:
    # The docstring's first paragraph (its first line alone stops mid-sentence).
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--tokens", type=int, default=2000, help="valid tokens to verify")
    parser.add_argument("--forged", type=int, default=1000, help="tokens with unknown key ids")
    args = parser.parse_args()

    with Issuer() as issuer:
        # A clock the script moves, so the burst starts past the refetch interval.
        now = [0.0]
        keys = SigningKeys(issuer.jwks_url, clock=lambda: now[0])
        verifier = TokenVerifier(issuer.issuer, ["app"], keys)
        token = issuer.token(issuer.claims(aud="app"))
        started = time.perf_counter()
        verifier.verify(token)
        first_ms = (time.perf_counter() - started) * 1000

        times = []
        for _ in range(args.tokens):
            started = time.perf_counter()
            verifier.verify(token)
            times.append((time.perf_counter() - started) * 1e6)

        now[0] += REFETCH_INTERVAL_SECONDS + 1
        fetches_before = issuer.fetches
        rejected = 0
        started = time.perf_counter()
        for i in range(args.forged):
            try:
                verifier.verify(issuer.token(issuer.claims(aud="app"), kid=f"forged-{i}"))
            except Unauthenticated:
                rejected += 1
        burst_s = time.perf_counter() - started

    times.sort()
    print(f"command: {' '.join(sys.argv)}")
    print(f"first verification, JWKS fetch included: {first_ms:8.2f} ms")
    print(
        f"cached keys, median / p95 of {args.tokens}:   {statistics.median(times):8.1f} / "
        f"{times[int(len(times) * 0.95)]:.1f} us"
    )
    print(
        f"forged key ids: {rejected}/{args.forged} rejected in {burst_s:.2f} s, "
        f"JWKS fetches during the burst: {issuer.fetches - fetches_before} "
        f"(at most one per {REFETCH_INTERVAL_SECONDS:g} s)"
    )


if __name__ == "__main__":
    main()
