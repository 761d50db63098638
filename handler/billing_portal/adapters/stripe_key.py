"""The Stripe secret key: STRIPE_API_KEY locally, else the SSM SecureString (or Secrets Manager
secret) named by STRIPE_API_KEY_PARAM, read through powertools parameters and cached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from billing_portal import budget
from billing_portal.adapters.aws_errors import error_code, transient_reason
from billing_portal.errors import ServerMisconfigured, UpstreamUnavailable

if TYPE_CHECKING:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

logger = Logger(child=True)

# Read again after 5 minutes, so a rotated key is picked up without a redeploy.
KEY_CACHE_SECONDS = 300
SECRETS_MANAGER_PREFIXES = ("arn:aws:secretsmanager:", "secretsmanager:")


class StripeKey:
    """Call it for the key; the store's client is built on first use (never for a local key)."""

    def __init__(
        self,
        local: SecretStr | None,
        param: str | None,
        session: boto3.session.Session | None = None,
    ) -> None:
        self._local = local
        name = param or ""
        self._in_secrets_manager = name.startswith(SECRETS_MANAGER_PREFIXES)
        self._name = name.removeprefix("secretsmanager:")
        self._session = session
        self._store: SSMProvider | SecretsProvider | None = None

    def __call__(self) -> str:
        if self._local is not None:
            return self._local.get_secret_value()
        # Imported here: deployments with a local key (and tests of them) never pay for it.
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        options: dict[str, Any] = {} if self._in_secrets_manager else {"decrypt": True}
        try:
            return str(self._provider().get(self._name, max_age=KEY_CACHE_SECONDS, **options))
        except GetParameterError as exc:
            # powertools wraps every failure; the original is the exception's context.
            raise _problem(exc.__context__, self._store_name) from None

    def drop_connections(self) -> None:
        """Close the store's pooled connections (its client dials again when needed)."""
        if self._store is not None:
            self._store.client.close()

    @property
    def _store_name(self) -> str:
        return "secretsmanager" if self._in_secrets_manager else "ssm"

    def _provider(self) -> SSMProvider | SecretsProvider:
        if self._store is None:
            from aws_lambda_powertools.utilities import parameters

            provider = (
                parameters.SecretsProvider if self._in_secrets_manager else parameters.SSMProvider
            )
            # The session the DynamoDB client came from: a second one costs ~50 ms to build.
            self._store = provider(boto_config=budget.KEY_STORE.config, boto3_session=self._session)
        return self._store


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
