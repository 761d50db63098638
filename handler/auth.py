"""Who is asking: the user's identity from the request, as a user key and its claims."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from errors import Unauthenticated
from settings import Settings


@dataclass(frozen=True)
class User:
    key: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def key_hash(self) -> str:
        """What logs carry instead of the user key (a stable, non-reversible reference)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


def identify(event: APIGatewayProxyEventV2, settings: Settings) -> User:
    """The authenticated user, or Unauthenticated (401)."""
    claims = _authorizer_claims(event)
    if claims is None:
        # In-function JWT verification (AUTH_JWT_ISSUER) plugs in here.
        raise Unauthenticated("This endpoint needs a signed-in user.")
    key = claims.get(settings.user_id_claim)
    if not isinstance(key, str) or not key:
        raise Unauthenticated(f"The token has no '{settings.user_id_claim}' claim.")
    return User(key=key, claims=claims)


def _authorizer_claims(event: APIGatewayProxyEventV2) -> dict[str, Any] | None:
    """Claims API Gateway's JWT authorizer already verified, when it ran."""
    return event.request_context.authorizer.jwt_claim or None
