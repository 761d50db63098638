"""The readiness check: does this version work, judged before it takes any traffic?

CodeDeploy's PreTraffic hook (hooks/pre_traffic.py) invokes the new version directly with
`{"readiness": {"live_key": true|false}}`, an event API Gateway never sends, and reads the
answer: `{"ready": bool, "checks": [{"name", "ok", "detail"}]}`. Each check touches what a
click touches, without a user: the settings, the Stripe key through the role's grant and its
mode, the customers table, and the portal configuration with the features of every offered flow.
A detail names what failed and why (an AWS or Stripe error code), never the key or a URL.

Imported on the first readiness event only (factory.py), so clicks never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from billing_portal.domain.flows import FLOW_FEATURES
from billing_portal.errors import Problem

logger = Logger(child=True)

# A user key no user can have: keys with control characters are refused with a 401 before any
# lookup (domain/user.py), so this GetItem can only ever find nothing.
PROBE_KEY = "\x00billing-portal readiness check"
KEY_MODES = {"sk_live_": "live", "rk_live_": "live", "sk_test_": "test", "rk_test_": "test"}


class CustomerLookup(Protocol):
    def find(self, user_key: str) -> object: ...


class PortalConfigurations(Protocol):
    def portal_configuration(self, configuration_id: str | None) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def answer(checks: list[Check]) -> dict[str, Any]:
    """The result the hook reads, logged here too (the function's log has the details of any
    failure: the adapters log the error they met)."""
    ready = all(check.ok for check in checks)
    failed = [check.name for check in checks if not check.ok]
    logger.info("readiness", extra={"ready": ready, "failed_checks": failed})
    return {"ready": ready, "checks": [asdict(check) for check in checks]}


def settings_failed(reason: str) -> dict[str, Any]:
    """Not ready: the settings are invalid (SettingsError's text: it names the variables,
    never a secret's value), so every click would get a 500 and nothing else can be checked."""
    return answer([Check("settings", False, reason)])


class Readiness:
    def __init__(
        self,
        *,
        key: Callable[[], str],
        key_source: str,
        customers: CustomerLookup,
        stripe: PortalConfigurations,
        configuration: str | None,
        flows: Collection[str],
    ) -> None:
        self._key = key
        self._key_source = key_source  # where the key is read from: a name, never the key
        self._customers = customers
        self._stripe = stripe
        self._configuration = configuration
        self._flows = flows  # the flows this deployment offers

    def run(self, expect_live: bool | None) -> dict[str, Any]:
        """Every check; `expect_live`: the environment needs a live key (True), a test key
        (False), or says nothing (None: the mode is reported, not judged)."""
        checks = [Check("settings", True, "valid")]
        key = self._read_key(checks)
        if key is not None:
            checks.append(_key_mode(key, expect_live))
        checks.append(self._table())
        if key is not None:  # without the key, Stripe cannot be asked
            checks.append(self._portal_configuration())
        return answer(checks)

    def _read_key(self, checks: list[Check]) -> str | None:
        try:
            key = self._key()
        except Problem as exc:
            checks.append(
                Check("stripe_key", False, f"cannot read {self._key_source}: {_cause(exc)}")
            )
            return None
        checks.append(Check("stripe_key", True, f"read from {self._key_source}"))
        return key

    def _table(self) -> Check:
        try:
            self._customers.find(PROBE_KEY)
        except Problem as exc:
            return Check("customers_table", False, f"GetItem failed: {_cause(exc)}")
        return Check("customers_table", True, "GetItem answered")

    def _portal_configuration(self) -> Check:
        name = self._configuration or "the default configuration"
        try:
            config = self._stripe.portal_configuration(self._configuration)
        except Problem as exc:
            return Check("portal_configuration", False, f"cannot read {name}: {_cause(exc)}")
        if config is None:
            return Check(
                "portal_configuration",
                False,
                f"{name} does not exist in this Stripe account and mode",
            )
        name = str(config.get("id", name))
        if not config.get("active"):
            return Check("portal_configuration", False, f"{name} is not active")
        features = config.get("features") or {}
        missing = sorted(
            f"{flow} needs {FLOW_FEATURES[flow]}"
            for flow in self._flows
            if not (features.get(FLOW_FEATURES[flow]) or {}).get("enabled")
        )
        if missing:
            return Check(
                "portal_configuration", False, f"{name} does not enable: " + "; ".join(missing)
            )
        return Check(
            "portal_configuration", True, f"{name} is active and enables {len(self._flows)} flows"
        )


def _key_mode(key: str, expect_live: bool | None) -> Check:
    mode = next((mode for prefix, mode in KEY_MODES.items() if key.startswith(prefix)), None)
    if mode is None:
        return Check("key_mode", False, "not a Stripe secret or restricted key (sk_/rk_)")
    if expect_live is None:
        return Check("key_mode", True, f"{mode} key (no mode expected)")
    expected = "live" if expect_live else "test"
    if mode != expected:
        return Check(
            "key_mode", False, f"a {mode} key, but this environment needs a {expected} key"
        )
    return Check("key_mode", True, f"{mode} key, as expected")


def _cause(problem: Problem) -> str:
    """The code of the AWS or Stripe error behind the problem (ParameterNotFound,
    AccessDeniedException, AuthenticationError...), else the problem's own text. The adapters
    raise their problems `from None` while handling that error, so it is the problem's
    __context__; only its code or class is read, never its message (Stripe's may quote values)."""
    cause = problem.__context__
    if cause is None:
        return problem.detail
    response = getattr(cause, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or getattr(cause, "code", None) or type(cause).__name__)
