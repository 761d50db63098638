"""What DynamoDB's failures mean for callers: wrap every table call in `dynamodb_errors()`.

botocore has already retried (see the client config in app.py) by the time an error gets here,
so throttling, 5xx and network failures are answered with a 503 and Retry-After; a table or
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
from errors import ServerMisconfigured, UpstreamUnavailable

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


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    try:
        yield
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise _unavailable("timeout", type(exc).__name__) from None
    except (EndpointConnectionError, ConnectionClosedError) as exc:
        raise _unavailable("connection", type(exc).__name__) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING:
            raise _unavailable("throttled", code) from None
        if status >= 500:
            raise _unavailable("error", code) from None
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
