"""The real handler as a test calls it: built from the environment like a cold start, with one
botocore session per process (as one per Lambda container), and read back from its answers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session

from billing_portal.factory import build
from testing.fake_stripe import FakeStripe
from testing.leaks import service_logs_to_current_stdout

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Invoke = Callable[..., dict[str, Any]]


@cache
def shared_session() -> botocore.session.Session:
    """The process's botocore session: a new one loads botocore's service models again (~100 ms
    a test)."""
    return botocore.session.Session()


def build_handler(session: botocore.session.Session | None = None) -> Handler:
    """A handler built from the current environment, as on a Lambda cold start with it."""
    handler = build(os.environ, session=session or shared_session())
    service_logs_to_current_stdout()
    return handler


def problem(response: dict[str, Any]) -> dict[str, Any]:
    """The body of a problem answer (RFC 9457), which it must be."""
    assert response["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response["body"])
    return body


def session_customer(fake_stripe: FakeStripe, response: dict[str, Any]) -> str:
    """The customer of the portal session a 303 points at."""
    assert response["statusCode"] == 303, response.get("body")
    [session] = [
        s for s in fake_stripe.sessions.values() if s["url"] == response["headers"]["Location"]
    ]
    return str(session["customer"])
