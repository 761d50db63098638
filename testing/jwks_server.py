"""A token issuer for tests: signing keys made with `cryptography`, and a JWKS endpoint on
127.0.0.1 that counts its requests and can be told to fail.

    with Issuer() as issuer:
        issuer.token({"sub": "u1", "aud": "app"})         # signed with the current key
        issuer.rotate()                                     # a new key (and kid) is published
        issuer.failing = True                               # JWKS answers 500 from now on
        issuer.delay = 3.0                                  # JWKS answers late
        issuer.trickle = 0.05                               # ... one byte per 0.05 s
        issuer.document = {"keys": [{"kid": ["x"]}]}        # JWKS answers this JSON instead
        issuer.fetches                                      # JWKS requests received
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

ISSUER = "https://issuer.example.test/pool"
JWKS_PATH = "/.well-known/jwks.json"
# How to make a private key for each signing algorithm the tests use.
KEY_MAKERS = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


@cache
def _first_key() -> Any:
    """Every issuer's first key, made once per process: a 2048-bit RSA key takes ~100 ms to make,
    and issuers (one per test) never share a server, so sharing it proves nothing wrong."""
    return KEY_MAKERS["RS256"]()


class Issuer:
    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.keys: dict[str, tuple[str, Any]] = {}  # kid -> (alg, private key), all published
        self.kid = ""
        self.failing = False  # JWKS answers 500
        self.garbled = False  # JWKS answers 200 with a body that is not JSON
        self.delay = 0.0  # seconds the JWKS endpoint waits before answering
        self.trickle = 0.0  # seconds between the bytes of its answer (0: all at once)
        self.document: Any = None  # JSON (or bytes) answered instead of the keys, when set
        self.fetches = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.jwks_url = f"http://127.0.0.1:{self._server.server_address[1]}{JWKS_PATH}"
        self.kid = f"key-{uuid.uuid4().hex[:8]}"
        self.keys[self.kid] = ("RS256", _first_key())

    def rotate(self, *, algorithm: str = "RS256", withdraw_old: bool = False) -> str:
        """Publish a new key and sign with it from now on (old keys stay published unless
        withdrawn)."""
        if withdraw_old:
            self.keys.clear()
        kid = f"key-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = (algorithm, KEY_MAKERS[algorithm]())
        self.kid = kid
        return kid

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "demo-user",
            "aud": "web-client",
            "token_use": "id",
        }
        claims |= {"iat": now, "exp": now + 600}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, claims: dict[str, Any] | None = None, **header: Any) -> str:
        """A token signed with the current key; a `kid` given here goes into the header only."""
        headers = {"kid": self.kid, **header}
        algorithm, key = self.keys[self.kid]
        return jwt.encode(claims or self.claims(), key, algorithm=algorithm, headers=headers)

    def public_pem(self) -> bytes:
        return (
            self.keys[self.kid][1]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, (algorithm, private) in self.keys.items():
            jwk = json.loads(get_default_algorithms()[algorithm].to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": algorithm, "use": "sig"})
        return {"keys": keys}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with issuer._lock:
                    issuer.fetches += 1
                time.sleep(issuer.delay)
                if self.path != JWKS_PATH or issuer.failing:
                    status, body = (404 if self.path != JWKS_PATH else 500), b"{}"
                elif issuer.document is not None:
                    document = issuer.document
                    status = 200
                    body = (
                        document if isinstance(document, bytes) else json.dumps(document).encode()
                    )
                else:
                    status, body = 200, json.dumps(issuer.jwks()).encode()
                if issuer.garbled:
                    body = b"<html>Service Unavailable</html>"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.flush()
                    if not issuer.trickle:
                        self.wfile.write(body)
                    for index in range(len(body) if issuer.trickle else 0):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(issuer.trickle)
                except ConnectionError:
                    pass  # the client gave up waiting (a timeout test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Issuer:
        # shutdown() waits for the loop's next poll: 0.5 s by default, on every issuer stopped.
        poll = {"poll_interval": 0.05}
        threading.Thread(target=self._server.serve_forever, kwargs=poll, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
