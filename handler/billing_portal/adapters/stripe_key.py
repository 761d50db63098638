"""The Stripe secret key: STRIPE_API_KEY locally, else the SSM SecureString (or Secrets Manager
secret) named by STRIPE_API_KEY_PARAM, read with the session's botocore client and cached."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from billing_portal import budget
from billing_portal.adapters.aws_errors import error_code, transient_reason
from billing_portal.errors import ServerMisconfigured, UpstreamUnavailable

if TYPE_CHECKING:
    import botocore.session

logger = Logger(child=True)

# Read again after 5 minutes, so a rotated key is picked up without a redeploy.
KEY_CACHE_SECONDS = 300
SECRETS_MANAGER_PREFIXES = ("arn:aws:secretsmanager:", "secretsmanager:")


class StripeKey:
    """Call it for the key; the store's client is built on first use (never for a local key).

    One GetParameter (or GetSecretValue) per container every KEY_CACHE_SECONDS, as powertools
    `parameters` would do it with max_age; written out because that module imports boto3 (and
    through it s3transfer), about 6% of a cold start the function has no other use for.
    """

    def __init__(
        self,
        local: SecretStr | None,
        param: str | None,
        session: botocore.session.Session | None = None,
    ) -> None:
        self._local = local
        name = param or ""
        self._in_secrets_manager = name.startswith(SECRETS_MANAGER_PREFIXES)
        self._name = name.removeprefix("secretsmanager:")
        self._session = session
        self._store: Any = None
        self._cached: tuple[str, float] | None = None  # the key, and when it was read

    def __call__(self) -> str:
        if self._local is not None:
            return self._local.get_secret_value()
        now = time.monotonic()
        if self._cached is not None and now - self._cached[1] < KEY_CACHE_SECONDS:
            return self._cached[0]
        try:
            key = self._read()
        except (BotoCoreError, ClientError) as exc:
            raise _problem(exc, self._store_name) from None
        self._cached = (key, now)
        return key

    def _read(self) -> str:
        if not self._in_secrets_manager:
            answer = self._client().get_parameter(Name=self._name, WithDecryption=True)
            return str(answer["Parameter"]["Value"])
        secret = self._client().get_secret_value(SecretId=self._name)
        if "SecretString" not in secret:
            logger.error("The Stripe key's secret holds binary data, not the key as text")
            raise ServerMisconfigured("The payment provider is not configured.")
        return str(secret["SecretString"])

    def _client(self) -> Any:
        if self._store is None:
            import botocore.session

            # The session the DynamoDB client came from: a second one would load botocore's
            # data again.
            session = self._session or botocore.session.Session()
            self._store = session.create_client(self._store_name, config=budget.KEY_STORE.config)
        return self._store

    def drop_connections(self) -> None:
        """Close the store's pooled connections (its client dials again when needed)."""
        if self._store is not None:
            self._store.close()

    @property
    def _store_name(self) -> str:
        return "secretsmanager" if self._in_secrets_manager else "ssm"


def _problem(cause: BaseException | None, store: str) -> UpstreamUnavailable | ServerMisconfigured:
    """A store that is down or throttling is a 503; anything else (no such parameter, no
    permission, no KMS access) is the operator's to fix."""
    reason, code = transient_reason(cause), error_code(cause)
    if reason is not None:
        logger.warning(
            "The Stripe key's store is not answering", extra={"store": store, "error": code}
        )
        return UpstreamUnavailable(
            "The payment provider is not configured yet; try again shortly.",
            upstream=store,
            reason=reason,
        )
    logger.error(
        "Cannot read the Stripe key named by STRIPE_API_KEY_PARAM",
        extra={"store": store, "error": code},
    )
    return ServerMisconfigured("The payment provider is not configured.")
