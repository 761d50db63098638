"""What AWS's failures mean for callers: DynamoDB's (wrap every table call in
`dynamodb_errors()`), and which failures of any AWS call are worth retrying later.

botocore has already retried (see the client configs) by the time an error gets here, so
throttling, 5xx and network failures are answered with a 503 and Retry-After; a table or
permission that does not match our settings is the operator's problem (500); anything else is
a bug and left to the unexpected-error handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from billing_portal.errors import ServerMisconfigured, UpstreamUnavailable

logger = Logger(child=True)

THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)
# The table named by CUSTOMERS_TABLE is missing, we may not read it, or its key is not
# CUSTOMERS_TABLE_KEY: settings and stack disagree, and retrying will not help.
MISCONFIGURED = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "ValidationException"}
)


NETWORK_ERRORS = (
    ConnectTimeoutError,
    ReadTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
)


def transient_reason(exc: BaseException | None) -> str | None:
    """Why a failed AWS call may work later ("timeout", "connection", "throttled", "error"),
    or None when retrying will not help."""
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return "timeout"
    if isinstance(exc, NETWORK_ERRORS):
        return "connection"
    if isinstance(exc, ClientError):
        if error_code(exc) in THROTTLING:
            return "throttled"
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            return "error"
    return None


def error_code(exc: BaseException | None) -> str:
    """AWS's error code ("ThrottlingException"...), or the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    try:
        yield
    except (ClientError, *NETWORK_ERRORS) as exc:
        reason, code = transient_reason(exc), error_code(exc)
        if reason is not None:
            raise _unavailable(reason, code) from None
        if code in MISCONFIGURED:
            logger.error(
                "DynamoDB refused the customers table lookup: check CUSTOMERS_TABLE, "
                "CUSTOMERS_TABLE_KEY and the function's IAM policy",
                extra={"dynamodb_error": code},
            )
            raise ServerMisconfigured("The customers table is not set up as configured.") from None
        raise


def _unavailable(reason: str, error: str) -> UpstreamUnavailable:
    logger.warning(
        "DynamoDB unavailable", extra={"dynamodb_error": error, "upstream_reason": reason}
    )
    return UpstreamUnavailable(
        "The customer database is not answering; try again shortly.",
        upstream="dynamodb",
        reason=reason,
    )
