"""One environment of samconfig.toml, read as `sam deploy --config-env ENV` reads it.

The deploy and portal tools take `--env ENV` and find here the stack, region, profile and
template parameters that SAM would use, so no value is copied by hand between them.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SAMCONFIG = Path(__file__).resolve().parent.parent / "samconfig.toml"
# The local server's customers table (its embedded DynamoDB), which `--local` tools use.
LOCAL_TABLE = "billing-portal-customers"


class ConfigError(Exception):
    """samconfig.toml lacks the environment or a value: one plain line for the user."""


@dataclass(frozen=True)
class Environment:
    name: str
    stack_name: str
    region: str | None
    profile: str | None
    # Template parameters as `parameter_overrides` sets them; the template's defaults fill the rest.
    parameters: dict[str, str] = field(default_factory=dict)
    # The deploy command's own options (capabilities, confirm_changeset, tags, ...).
    deploy: dict[str, object] = field(default_factory=dict)
    # The AWS account the profile reaches (STS), once a tool has asked: with the region and the
    # stack it names the deployment in a portal configuration's marker.
    account: str | None = None

    @property
    def environment_type(self) -> str:
        """EnvironmentType as samconfig.toml sets it (the template's default: dev)."""
        return self.parameters.get("EnvironmentType", "dev")

    @property
    def stripe_key_location(self) -> str:
        """Where the function reads the Stripe key, as the template sets STRIPE_API_KEY_PARAM:
        `secretsmanager:<secret>` or the SSM parameter's name."""
        secret = self.parameters.get("StripeApiKeySecret", "")
        if secret:
            return f"secretsmanager:{secret}"
        return self.parameters.get("StripeApiKeyParam", "/billing-portal/stripe-api-key")


def load(env: str = "default", path: Path = SAMCONFIG) -> Environment:
    try:
        config = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run this from the project's folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if env not in config or not isinstance(config[env], dict):
        known = ", ".join(k for k, v in config.items() if isinstance(v, dict))
        raise ConfigError(f"samconfig.toml has no environment {env!r} (it has: {known})")
    commands = config[env]
    # As SAM merges them: the command's own table over `global`.
    merged: dict[str, object] = {
        **commands.get("global", {}).get("parameters", {}),
        **commands.get("deploy", {}).get("parameters", {}),
    }
    stack_name = merged.get("stack_name")
    if not isinstance(stack_name, str) or not stack_name:
        raise ConfigError(f"samconfig.toml's {env!r} environment sets no stack_name")
    region, profile = merged.get("region"), merged.get("profile")
    return Environment(
        name=env,
        stack_name=stack_name,
        region=region if isinstance(region, str) else None,
        profile=profile if isinstance(profile, str) else None,
        parameters=parse_overrides(merged.get("parameter_overrides", [])),
        deploy=merged,
    )


def parse_overrides(value: object) -> dict[str, str]:
    """`parameter_overrides` as SAM accepts it: a list of `Key=Value`, or one string of them
    separated by spaces (shell-quoted)."""
    items = shlex.split(value) if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    parameters: dict[str, str] = {}
    for item in items:
        key, sep, val = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"parameter_overrides: {item!r} is not Key=Value")
        parameters[key] = val
    return parameters
