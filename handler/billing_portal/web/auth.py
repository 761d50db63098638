"""Who is asking: the user's identity from the request, as a user key and its claims.

Claims come from API Gateway's JWT authorizer when it ran; otherwise, when AUTH_JWT_ISSUER is
set, from a token verified here, taken from `Authorization: Bearer` or the AUTH_COOKIE_NAME
cookie. Only cookie requests get the CSRF origin check: a browser never attaches an
Authorization header to a cross-site request on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from billing_portal.domain.user import User
from billing_portal.errors import Unauthenticated
from billing_portal.settings import Settings
from billing_portal.web.cors import check_cookie_request

if TYPE_CHECKING:
    from billing_portal.web.tokens import TokenVerifier


def identify(
    event: APIGatewayProxyEventV2, settings: Settings, verifier: TokenVerifier | None = None
) -> User:
    """The authenticated user, or Unauthenticated (401) / ForbiddenOrigin (403)."""
    claims = _authorizer_claims(event)
    from_authorizer = claims is not None
    if claims is None:
        claims = _verified_claims(event, settings, verifier)
    return User.from_claims(claims, settings.user_id_claim, from_authorizer=from_authorizer)


def authorize(event: APIGatewayProxyEventV2, user: User, settings: Settings) -> None:
    """ForbiddenRole (403) when BILLING_ROLES is set and the user holds none of them. Apart from
    `identify`, so that a refusal of a known user is logged with who it was."""
    if settings.billing_roles:  # Settings refuses roles without the claim; "" would refuse all
        user.require_role(
            settings.billing_role_claim or "",
            settings.billing_roles,
            from_authorizer=_authorizer_claims(event) is not None,
        )


def _authorizer_claims(event: APIGatewayProxyEventV2) -> dict[str, Any] | None:
    """Claims API Gateway's JWT authorizer already verified, when it ran."""
    return event.request_context.authorizer.jwt_claim or None


def _verified_claims(
    event: APIGatewayProxyEventV2, settings: Settings, verifier: TokenVerifier | None
) -> dict[str, Any]:
    if verifier is None:
        raise Unauthenticated("This endpoint needs a signed-in user.")
    token = _bearer_token(event.headers.get("authorization"))
    if token is None and settings.auth_cookie_name:
        token = _session_cookie(event, settings.auth_cookie_name)
        if token is not None:
            # Before verifying: a forged cross-site request learns nothing about the cookie.
            check_cookie_request(event.headers, settings.allowed_origins)
    if token is None:
        raise Unauthenticated("This endpoint needs a signed-in user (no token was sent).")
    return verifier.verify(token)


def _session_cookie(event: APIGatewayProxyEventV2, name: str) -> str | None:
    """The one cookie of that name. Two are refused rather than one picked: a sibling subdomain
    can plant a cookie of the same name, and "the last one wins" would sign the victim in as
    the planter."""
    values = []
    for pair in "; ".join(event.cookies).split(";"):
        cookie_name, sep, value = pair.strip().partition("=")
        if sep and cookie_name.strip() == name:
            values.append(value.strip())
    if len(values) > 1:
        raise Unauthenticated("More than one session cookie was sent; sign in again.")
    return (values[0] or None) if values else None


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
