"""The domain errors a request can end in, each with its RFC 9457 problem type, its status and
the operator's metric it counts as.

Raise them where the problem is found; web/invocation.py turns them into answers and metrics in
one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

PROBLEM_TYPE_BASE = "tag:billing-portal,2026:problem/"


class Problem(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "server-error"
    title: ClassVar[str] = "Internal error"
    # The request's outcome metric (observability.py) and its dimensions: dimension -> the
    # attribute that holds its value. The rest of the refusals count by their problem type.
    metric: ClassVar[str] = "RejectedRequests"
    dimensions: ClassVar[Mapping[str, str]] = {"problem": "slug"}

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug

    def metric_dimensions(self) -> dict[str, str]:
        return {name: getattr(self, attribute) for name, attribute in self.dimensions.items()}


class InvalidParameter(Problem):
    status, slug, title = 400, "invalid-parameter", "Invalid parameter"
    MAX_ERRORS: ClassVar[int] = 20  # a body of 4,000 unknown names is answered with 20

    def __init__(self, errors: list[dict[str, str]]) -> None:
        errors = errors[: self.MAX_ERRORS]
        names = ", ".join(sorted({e["parameter"] for e in errors}))
        super().__init__(f"Invalid request parameter(s): {names}.", errors=errors)

    @classmethod
    def single(cls, parameter: str, detail: str) -> InvalidParameter:
        return cls([{"parameter": parameter, "detail": detail}])


class Unauthenticated(Problem):
    status, slug, title = 401, "unauthenticated", "Authentication required"
    metric, dimensions = "AuthFailures", {}

    def __init__(self, detail: str, *, www_authenticate: str = "Bearer") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": www_authenticate})


class InvalidToken(Unauthenticated):
    """A token was sent but cannot be trusted; the challenge says so (RFC 6750)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, www_authenticate='Bearer error="invalid_token"')


class ForbiddenOrigin(Problem):
    status, slug, title = 403, "forbidden-origin", "Origin not allowed"
    metric, dimensions = "AuthFailures", {}


class ForbiddenRole(Problem):
    status, slug, title = 403, "forbidden-role", "Billing role required"
    metric, dimensions = "AuthFailures", {}


class NoBillingAccount(Problem):
    status, slug, title = 404, "no-billing-account", "No billing account"
    metric, dimensions = "MissingBillingAccounts", {}


class CustomerNotFound(NoBillingAccount):
    """Stripe answered "No such customer" for the mapped id. The use case asks Stripe what
    became of it (portal.py); unanswered (an Accounts v2 id), it is the user's 404."""


class NoSuchSubscription(Problem):
    status, slug, title = 404, "no-such-subscription", "No such subscription"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class FlowUnavailable(Problem):
    """Stripe refuses this flow for the subscription's state or the portal configuration: the
    caller's request was well-formed, the account just cannot do that now."""

    status, slug, title = 409, "flow-unavailable", "Flow unavailable"
    # Apart from Misconfigurations (no alarm): a subscription's state, or a flow the portal
    # configuration leaves off; by flow, so a flow refused to everyone stands out.
    metric, dimensions = "FlowsUnavailable", {"flow": "flow"}

    def __init__(self, detail: str, *, flow: str) -> None:
        super().__init__(detail)
        self.flow = flow  # for the operator's metric: which flow is refused


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ServerMisconfigured(Problem):
    status, slug, title = 500, "server-misconfigured", "Server misconfigured"
    metric, dimensions = "Misconfigurations", {}


class UpstreamUnavailable(Problem):
    status, slug, title = 503, "upstream-unavailable", "Service temporarily unavailable"
    metric, dimensions = "UpstreamFailures", {"upstream": "upstream", "reason": "reason"}
    DEFAULT_RETRY_AFTER: ClassVar[int] = 2

    def __init__(
        self,
        detail: str,
        *,
        retry_after: int = DEFAULT_RETRY_AFTER,
        upstream: str = "",
        reason: str = "",
    ) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        # Which dependency failed and how ("stripe"/"dynamodb", "throttled", "timeout"...):
        # for the operator's metrics and traces, never shown to the caller.
        self.upstream = upstream
        self.reason = reason
