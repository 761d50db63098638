"""portal.yaml: the Stripe customer-portal configuration, kept beside the code that depends on it.

    python3 uvw.py run python -m tools.portal_config check portal.yaml [--env ENV]
    python3 uvw.py run python -m tools.portal_config plan portal.yaml --env ENV
    python3 uvw.py run python -m tools.portal_config apply portal.yaml --env ENV

`check` runs offline: the file against Stripe's parameter types (tools/portal_params.py, the
pinned SDK's ConfigurationCreateParams) and against what the function deep-links (every flow
enabled, the prices subscription_update_confirm may switch to, cancellation for a retention
coupon). `plan` shows, field by field, how the configuration in ENV's Stripe account differs from
the file; `apply` creates it or updates it in place and prints its bpc_ id (a second apply
changes nothing and says so). ENV is a samconfig.toml environment (tools/samconfig.py): the
configuration is the one whose metadata says managed_by=billing-portal and stack=<its stack>.

The Stripe key is read where the function reads it (the environment's SSM parameter or Secrets
Manager secret, with its AWS profile and region); STRIPE_API_KEY (and STRIPE_API_BASE, for the
local stand-in) in the environment take precedence. Never a key on the command line.
Exit status: 0 done, 1 a problem (one plain line each on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import stripe
import yaml
from pydantic import BaseModel, ValidationError

from billing_portal.domain.flows import FLOW_FEATURES
from billing_portal.settings import offered_flows
from tools import samconfig
from tools.portal_params import ConfigurationCreate

PROG = "portal_config"
MANAGED_BY = "billing-portal"
PORTAL_YAML = Path(__file__).resolve().parent.parent / "portal.yaml"
# The local server's "environment": its stand-in has no samconfig.toml entry.
LOCAL = samconfig.Environment(
    name="local", stack_name="billing-portal-local", region=None, profile=None
)


class PortalConfigError(Exception):
    """What is wrong, one plain line per problem."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- check ------------------------------------------------------------------------------------


def load(path: Path, env: samconfig.Environment | None = None) -> ConfigurationCreate:
    """The file, checked against Stripe's types and the deployment; PortalConfigError if not."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PortalConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise PortalConfigError(
            f"{path}: not UTF-8 text at line {line}; save it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise PortalConfigError(f"{path}: not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise PortalConfigError(f"{path}: must be a mapping of configuration fields")
    try:
        config = ConfigurationCreate.model_validate(data)
    except ValidationError as exc:
        raise PortalConfigError(*(f"{path}: {line}" for line in _type_errors(exc))) from None
    problems = deployment_problems(config, env.parameters if env else {})
    if problems:
        raise PortalConfigError(*(f"{path}: {line}" for line in problems))
    return config


def _type_errors(exc: ValidationError) -> Iterator[str]:
    seen: set[str] = set()
    for error in exc.errors():
        if error["msg"] == "Input should be ''":
            continue  # the "unset with an empty string" alternative: never the useful message
        parts = [p for p in error["loc"] if isinstance(p, int) or _is_field(str(p))]
        where = ".".join(str(p) for p in parts)
        if where in seen:
            continue
        seen.add(where)
        if error["type"] == "extra_forbidden":
            yield f"{where}: not a field of Stripe's portal configuration{_close(parts)}"
        elif error["type"] == "missing":
            yield f"{where}: required"
        else:
            yield f"{where}: {error['msg']} (got {error['input']!r})"


def _is_field(part: str) -> bool:
    return part.isidentifier() and part not in ("str", "int", "bool", "list", "dict")


def _close(parts: list[Any]) -> str:
    """ ", did you mean X?" for a misspelt field name, from the fields its object has."""
    model: Any = ConfigurationCreate
    for part in parts[:-1]:
        if isinstance(part, int):
            continue
        model = _model_of(model.model_fields[part].annotation)
        if model is None:
            return ""
    match = difflib.get_close_matches(str(parts[-1]), list(model.model_fields), n=1)
    return f"; did you mean {match[0]}?" if match else ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def deployment_problems(config: ConfigurationCreate, parameters: dict[str, str]) -> list[str]:
    """What the function needs of the configuration: each flow it offers (PortalFlows, default
    all) enabled (else its users get 409 flow-unavailable), and what its settings add to the
    flows. A flow the deployment does not offer may be off."""
    features = config.features
    problems = []
    try:
        offered = offered_flows(parameters.get("PortalFlows", "")) or frozenset(FLOW_FEATURES)
    except ValueError as exc:
        return [f"PortalFlows: {exc}"]
    for flow, name in FLOW_FEATURES.items():
        if flow not in offered:
            continue
        feature = getattr(features, name)
        if feature is None or not feature.enabled:
            problems.append(
                f"features.{name}.enabled: must be true: the function deep-links flow={flow} "
                "(with it off, users get 409 flow-unavailable)"
            )
    update = features.subscription_update
    if update is not None and update.enabled and "subscription_update_confirm" in offered:
        if not any(product.prices for product in update.products or []):
            problems.append(
                "features.subscription_update.products: must list the prices "
                "subscription_update_confirm may switch to (price=...)"
            )
        allowed = update.default_allowed_updates or []
        for change in ("price", "quantity"):
            if change not in allowed:
                problems.append(
                    f"features.subscription_update.default_allowed_updates: must include {change}"
                    f" (subscription_update_confirm takes {change}=...)"
                )
        promotion = parameters.get("UpdatePromotionCode")
        if promotion and "promotion_code" not in allowed:
            problems.append(
                "features.subscription_update.default_allowed_updates: must include "
                f"promotion_code (UpdatePromotionCode={promotion})"
            )
    payment_method = features.payment_method_update
    if (
        update is not None
        and update.enabled
        and (payment_method is None or not payment_method.enabled)
    ):
        problems.append(
            "features.payment_method_update.enabled: must be true with subscription_update "
            "(Stripe: cannot enable subscription updates while payment method update is "
            "disabled)"
        )
    coupon = parameters.get("RetentionCouponId")
    cancel = features.subscription_cancel
    if coupon and "subscription_cancel" in offered and (cancel is None or not cancel.enabled):
        problems.append(
            "features.subscription_cancel.enabled: must be true to offer "
            f"RetentionCouponId={coupon}"
        )
    if config.metadata and {"managed_by", "stack"} & set(config.metadata):
        problems.append("metadata: managed_by and stack are set by this tool, not the file")
    return problems


# --- plan and apply ---------------------------------------------------------------------------


def desired(config: ConfigurationCreate, env: samconfig.Environment) -> dict[str, Any]:
    """Stripe's create (and update) parameters for this environment's configuration."""
    params = config.model_dump(exclude_none=True, exclude={"expand"})
    params["metadata"] = {**params.get("metadata", {}), **_marker(env)}
    return params


def _marker(env: samconfig.Environment) -> dict[str, str]:
    return {"managed_by": MANAGED_BY, "stack": env.stack_name}


def find(
    client: stripe.StripeClient, env: samconfig.Environment
) -> stripe.billing_portal.Configuration | None:
    """The configuration this tool manages for the environment's stack (active or not)."""
    marker = _marker(env)
    listed = client.v1.billing_portal.configurations.list({"limit": 100})
    for config in listed.auto_paging_iter():
        metadata = config.metadata.to_dict() if config.metadata else {}
        if all(metadata.get(key) == value for key, value in marker.items()):
            return config
    return None


def differences(want: Any, have: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """(field, Stripe's value, the file's value) for every field the file sets that differs.
    Fields the file leaves out are Stripe's (defaults, or the Dashboard's): not compared."""
    if isinstance(want, dict) and (have is None or isinstance(have, dict)):
        found = []
        for key, value in want.items():
            found += differences(value, (have or {}).get(key), f"{where}.{key}" if where else key)
        return found
    if _same(want, have):
        return []
    return [(where, have, want)]


def _same(want: Any, have: Any) -> bool:
    if want == "":  # Stripe's "unset"
        return have in (None, "", [])
    if isinstance(want, dict):
        return isinstance(have, dict) and not differences(want, have)
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_same(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


class Plan:
    """What apply would do: create, update (with these differences) or nothing."""

    def __init__(self, current: dict[str, Any] | None, params: dict[str, Any]) -> None:
        self.current = current
        self.params = params
        self.changes = [] if current is None else differences(params, current)
        if current is not None and not current.get("active", True):
            self.changes.append(("active", False, True))

    @property
    def id(self) -> str | None:
        return None if self.current is None else str(self.current["id"])

    def lines(self) -> list[str]:
        if self.current is None:
            fields = differences(self.params, {})
            return [
                "no configuration has this stack's metadata yet: apply creates one with",
                *(f"  + {field}: {value!r}" for field, _, value in fields),
            ]
        if not self.changes:
            return [f"{self.id}: no changes, it matches the file"]
        return [
            f"{self.id}: {len(self.changes)} field(s) differ (Stripe -> file)",
            *(f"  ~ {field}: {old!r} -> {new!r}" for field, old, new in self.changes),
        ]


def plan(
    path: Path, env: samconfig.Environment, *, api_key: str, api_base: str | None = None
) -> Plan:
    params = desired(load(path, env), env)
    client = _client(api_key, api_base)
    current = _stripe_call(lambda: find(client, env), api_base)
    return Plan(current.to_dict() if current is not None else None, params)


def apply(
    path: Path, env: samconfig.Environment, *, api_key: str, api_base: str | None = None
) -> tuple[str, bool]:
    """Make ENV's configuration match the file: (its bpc_ id, whether anything changed).

    tools/deploy.py calls this before `sam deploy` and passes the id as the template's
    PortalConfigurationId parameter, which the function reads as PORTAL_CONFIGURATION_ID: nobody
    copies the id by hand. PortalConfigError (one line per problem) when the file or Stripe
    refuses.
    """
    todo = plan(path, env, api_key=api_key, api_base=api_base)
    configurations = _client(api_key, api_base).v1.billing_portal.configurations
    if todo.id is None:
        created = _stripe_call(lambda: configurations.create(todo.params))  # type: ignore[arg-type]
        return str(created.id), True
    if not todo.changes:
        return todo.id, False
    changes: dict[str, Any] = {**todo.params, "active": True}
    config_id = todo.id
    _stripe_call(lambda: configurations.update(config_id, changes))  # type: ignore[arg-type]
    return config_id, True


def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base} if api_base else {}, max_network_retries=2
    )


def unreachable(exc: stripe.APIConnectionError, api_base: str | None) -> str:
    """ "the Stripe API at <base> could not be reached (Connection refused)": the SDK's own text
    for this asks to write to support@stripe.com, which a wrong STRIPE_API_BASE port is not."""
    message = exc.user_message or str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^\"')]+)", message) or re.search(
        r"\(Network error: (\w+)", message
    )
    reason = f" ({found.group(1).strip()})" if found else ""
    return f"the Stripe API at {api_base or stripe.DEFAULT_API_BASE} could not be reached{reason}"


def _stripe_call(call: Any, api_base: str | None = None) -> Any:
    try:
        return call()
    except stripe.APIConnectionError as exc:
        hint = "check STRIPE_API_BASE" if api_base else "check the connection"
        raise PortalConfigError(f"{unreachable(exc, api_base)}; {hint}") from None
    except stripe.AuthenticationError:
        raise PortalConfigError("Stripe rejected the API key") from None
    except stripe.StripeError as exc:
        param = getattr(exc, "param", None)
        where = f" ({param})" if param else ""
        raise PortalConfigError(f"Stripe refused: {exc.user_message}{where}") from None


# --- the key ------------------------------------------------------------------------------------


def stripe_key(env: samconfig.Environment) -> tuple[str, str | None]:
    """(key, API base): STRIPE_API_KEY when set, else the key from where the environment's
    function reads it; STRIPE_API_BASE (a Stripe stand-in) when set, else Stripe."""
    base = os.environ.get("STRIPE_API_BASE", "").strip() or None
    local = os.environ.get("STRIPE_API_KEY", "").strip()
    if local:
        return local, base
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    location = env.stripe_key_location
    try:
        # The session is made inside the try: a profile samconfig.toml names but this machine
        # lacks is raised here (ProfileNotFound), not at the first call.
        session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
        if location.startswith("secretsmanager:"):
            secret = location.removeprefix("secretsmanager:")
            client = session.client("secretsmanager")
            return str(client.get_secret_value(SecretId=secret)["SecretString"]).strip(), base
        value = session.client("ssm").get_parameter(Name=location, WithDecryption=True)
        return str(value["Parameter"]["Value"]).strip(), base
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise PortalConfigError(f"cannot read the Stripe key from {location}: {code}") from None
    except ProfileNotFound:
        raise PortalConfigError(
            f"cannot read the Stripe key from {location}: the AWS profile {env.profile!r} "
            f"(samconfig.toml, --env {env.name}) is not configured on this machine; create it "
            f"(aws configure --profile {env.profile}) or set STRIPE_API_KEY"
        ) from None
    except NoCredentialsError:
        raise PortalConfigError(
            f"cannot read the Stripe key from {location}: no AWS credentials found "
            "(set a profile in samconfig.toml, AWS_PROFILE or AWS_ACCESS_KEY_ID, "
            "or set STRIPE_API_KEY)"
        ) from None
    except BotoCoreError as exc:
        raise PortalConfigError(f"cannot read the Stripe key from {location}: {exc}") from None


def _mode(api_key: str) -> str:
    return "live mode" if "_live_" in api_key else "test mode"


# --- command line -------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 uvw.py run python -m tools.portal_config", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, env_required, text in (
        ("check", False, "check the file offline (with --env: against that deployment's settings)"),
        ("plan", True, "show how the environment's configuration differs from the file"),
        ("apply", True, "create or update the environment's configuration; print its id"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("file", type=Path, help="the configuration file, e.g. portal.yaml")
        command.add_argument(
            "--env", required=env_required, help="a samconfig.toml environment (default, prod)"
        )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        env = samconfig.load(args.env) if args.env else None
        if args.command == "check":
            load(args.file, env)
            print(f"{args.file}: ok")
            return 0
        assert env is not None
        api_key, api_base = stripe_key(env)
        where = f"{env.stack_name}'s Stripe account ({_mode(api_key)})"
        if args.command == "plan":
            print(f"{args.file} against {where}:", flush=True)  # before any error line
            print("\n".join(plan(args.file, env, api_key=api_key, api_base=api_base).lines()))
            return 0
        config_id, changed = apply(args.file, env, api_key=api_key, api_base=api_base)
        if changed:
            print(f"applied {args.file} to {where}: {config_id}")
        else:
            print(f"no changes: {where} already matches {args.file}: {config_id}")
        return 0
    except (PortalConfigError, samconfig.ConfigError) as exc:
        for line in str(exc).splitlines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
