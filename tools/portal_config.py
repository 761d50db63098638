"""portal.yaml: the Stripe customer-portal configuration, kept beside the code that depends on it.

    python3 uvw.py run python -m tools.portal_config check portal.yaml [--env ENV]
    python3 uvw.py run python -m tools.portal_config plan portal.yaml --env ENV
    python3 uvw.py run python -m tools.portal_config apply portal.yaml --env ENV

`check` runs offline: the file against Stripe's parameter types (tools/portal_params.py, the
pinned SDK's ConfigurationCreateParams) and against what the function deep-links (every flow
enabled, the prices subscription_update_confirm may switch to, cancellation for a retention
coupon). `plan` shows, field by field, how the configuration in ENV's Stripe account differs from
the file; `apply` makes one configuration per distinct content (never updated in place) and
prints its bpc_ id (a second apply changes nothing and says so). ENV is a samconfig.toml
environment (tools/samconfig.py), or `local` (the local server's stand-in): the configuration
is found by its metadata, managed_by=billing-portal, account, region, stack and content_sha256.

The Stripe key is read where the function reads it (the environment's SSM parameter or Secrets
Manager secret, with its AWS profile and region), of the mode its EnvironmentType needs (prod:
live); STRIPE_API_KEY or STRIPE_API_BASE in the shell are refused, except for `--env local`,
which uses them. Never a key on the command line.
Exit status: 0 done, 1 a problem (one plain line each on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
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
        number = exc.object[: exc.start].count(b"\n") + 1
        raise PortalConfigError(
            f"{path}: not UTF-8 text at line {number}; save it as UTF-8"
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
    ours = {"managed_by", "account", "region", "stack", "content_sha256"}
    if config.metadata and ours & set(config.metadata):
        problems.append(
            "metadata: managed_by, account, region, stack and content_sha256 are set by this "
            "tool, not the file"
        )
    return problems


# --- plan and apply ---------------------------------------------------------------------------
#
# One configuration per distinct content, never updated in place: each function version carries
# the id of the configuration it was deployed with (PORTAL_CONFIGURATION_ID), so moving the alias
# back to an older version brings back the portal it served with. An update in place would change
# the portal of every version at once, the rollback target's included.

CONTENT = "content_sha256"


def content_hash(config: ConfigurationCreate) -> str:
    """The file's content, as Stripe is asked to create it (field order and YAML layout aside)."""
    params = config.model_dump(exclude_none=True, exclude={"expand"})
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def desired(config: ConfigurationCreate, env: samconfig.Environment) -> dict[str, Any]:
    """Stripe's create parameters for this environment's configuration of this content."""
    params = config.model_dump(exclude_none=True, exclude={"expand"})
    params["metadata"] = {
        **params.get("metadata", {}),
        **_marker(env),
        CONTENT: content_hash(config),
    }
    return params


def _marker(env: samconfig.Environment) -> dict[str, str]:
    """The deployment a configuration belongs to: account, region and stack, so a same-named
    stack in another region or account sharing the Stripe account never finds it. An
    environment nobody resolved (the local server's, a test's) is "local"."""
    return {
        "managed_by": MANAGED_BY,
        "account": env.account or "local",
        "region": env.region or "local",
        "stack": env.stack_name,
    }


def resolved(env: samconfig.Environment) -> samconfig.Environment:
    """The environment with the account and region its AWS profile reaches (STS)."""
    import dataclasses

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as exc:
        raise PortalConfigError(f"cannot tell which AWS account {env.name} is: {exc}") from None
    return dataclasses.replace(env, account=str(account), region=session.region_name)


def ours(client: stripe.StripeClient, env: samconfig.Environment) -> list[dict[str, Any]]:
    """Every configuration this tool made for the environment's deployment (active or not),
    newest first; never Stripe's default, never another deployment's."""
    marker = _marker(env)
    listed = client.v1.billing_portal.configurations.list({"limit": 100})
    found = []
    for config in listed.auto_paging_iter():
        data = config.to_dict()
        metadata = data.get("metadata") or {}
        if not data.get("is_default") and all(metadata.get(k) == v for k, v in marker.items()):
            found.append(data)
    return sorted(found, key=lambda c: c.get("created", 0), reverse=True)


def differences(want: Any, have: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """(field, Stripe's value, the file's value) for every field the file sets that differs.
    Fields the file leaves out are Stripe's (defaults): not compared."""
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
    """What apply would do: nothing (a configuration of this content exists), or create one."""

    def __init__(self, existing: list[dict[str, Any]], params: dict[str, Any]) -> None:
        self.params = params
        digest = params["metadata"][CONTENT]
        same = [c for c in existing if (c.get("metadata") or {}).get(CONTENT) == digest]
        # One edited in the Dashboard after it was made no longer holds this content.
        self.current = next((c for c in same if not differences(params, c)), None)
        self.edited = next((c for c in same if differences(params, c)), None)
        self.newest = existing[0] if existing else None

    @property
    def id(self) -> str | None:
        return None if self.current is None else str(self.current["id"])

    @property
    def digest(self) -> str:
        return str(self.params["metadata"][CONTENT])

    def lines(self) -> list[str]:
        if self.current is not None:
            state = "" if self.current.get("active", True) else " (inactive: apply reactivates it)"
            return [f"{self.id}: has this content ({self.digest[:12]}){state}"]
        lines = []
        if self.edited is not None:
            lines.append(
                f"{self.edited['id']} was made for this content but edited since: not reused"
            )
        base = self.newest
        if base is None:
            lines.append("no configuration of this deployment yet: apply creates one with")
            lines += [f"  + {f}: {v!r}" for f, _, v in differences(self.params, {})]
        else:
            changes = differences({k: v for k, v in self.params.items() if k != "metadata"}, base)
            lines.append(
                f"no configuration has this content ({self.digest[:12]}): apply creates one, "
                f"differing from {base['id']} (the newest) in {len(changes)} field(s)"
            )
            lines += [f"  ~ {f}: {old!r} -> {new!r}" for f, old, new in changes]
        return lines


def plan(
    path: Path, env: samconfig.Environment, *, api_key: str, api_base: str | None = None
) -> Plan:
    params = desired(load(path, env), env)
    client = _client(api_key, api_base)
    return Plan(_stripe_call(lambda: ours(client, env), api_base), params)


def apply(
    path: Path, env: samconfig.Environment, *, api_key: str, api_base: str | None = None
) -> tuple[str, bool]:
    """The configuration of this file's content for ENV: (its bpc_ id, whether it was created).
    Found again by its content hash; created when there is none; never updated in place (an
    inactive one is reactivated, its content untouched).

    tools/deploy.py calls this after the build and after the change set is approved, and passes
    the id as the template's PortalConfigurationId parameter (the function's
    PORTAL_CONFIGURATION_ID). PortalConfigError (one line per problem) when the file or Stripe
    refuses.
    """
    todo = plan(path, env, api_key=api_key, api_base=api_base)
    configurations = _client(api_key, api_base).v1.billing_portal.configurations
    if todo.id is None:
        created = _stripe_call(lambda: configurations.create(todo.params))  # type: ignore[arg-type]
        return str(created.id), True
    if todo.current is not None and not todo.current.get("active", True):
        config_id = todo.id
        _stripe_call(lambda: configurations.update(config_id, {"active": True}))
    return todo.id, False


def deactivate_unused(
    env: samconfig.Environment,
    keep: set[str],
    *,
    api_key: str,
    api_base: str | None = None,
) -> list[str]:
    """Deactivate this deployment's configurations that no kept version uses (the ids in
    `keep`); never Stripe's default, never another deployment's. The ids deactivated."""
    client = _client(api_key, api_base)
    done = []
    for config in _stripe_call(lambda: ours(client, env)):
        if config.get("active") and config["id"] not in keep:
            config_id = str(config["id"])
            _stripe_call(
                lambda c=config_id: client.v1.billing_portal.configurations.update(
                    c, {"active": False}
                )
            )
            done.append(config_id)
    return done


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


# Where the tools reach Stripe for a deployed environment: Stripe itself. Tests point it at the
# local stand-in (testing/fake_stripe.py); no shell variable can.
API_BASE: str | None = None
SHELL_OVERRIDES = ("STRIPE_API_KEY", "STRIPE_API_BASE")


def stripe_key(
    env: samconfig.Environment, environment_type: str | None = None
) -> tuple[str, str | None]:
    """(key, API base). The local server's environment: STRIPE_API_KEY and STRIPE_API_BASE (its
    stand-in). Any other: the key from where that environment's function reads it, never from
    the shell (a key left exported for local work would send another account's configuration
    id to prod), and of the mode EnvironmentType needs (prod: live, else test)."""
    if env.name == LOCAL.name:
        base = os.environ.get("STRIPE_API_BASE", "").strip() or None
        return os.environ.get("STRIPE_API_KEY", "").strip(), base
    shell = [name for name in SHELL_OVERRIDES if os.environ.get(name, "").strip()]
    if shell:
        raise PortalConfigError(
            f"{' and '.join(shell)} set in the shell: {env.name} uses the key its function "
            f"reads ({env.stripe_key_location}); unset {'them' if len(shell) > 1 else 'it'}"
        )
    key = _read_key(env)
    kind = environment_type or env.environment_type
    want = "live" if kind == "prod" else "test"
    have = "live" if _mode(key) == "live mode" else "test"
    if have != want:
        raise PortalConfigError(
            f"the key in {env.stripe_key_location} is a {have}-mode key; "
            f"EnvironmentType={kind} needs a {want}-mode key"
        )
    return key, API_BASE


def _read_key(env: samconfig.Environment) -> str:
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
            return str(client.get_secret_value(SecretId=secret)["SecretString"]).strip()
        value = session.client("ssm").get_parameter(Name=location, WithDecryption=True)
        return str(value["Parameter"]["Value"]).strip()
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
        env = LOCAL if args.env == LOCAL.name else samconfig.load(args.env) if args.env else None
        if args.command == "check":
            load(args.file, env)
            print(f"{args.file}: ok")
            return 0
        assert env is not None
        api_key, api_base = stripe_key(env)
        env = env if env.name == LOCAL.name else resolved(env)
        where = f"{env.stack_name}'s Stripe account ({_mode(api_key)})"
        if args.command == "plan":
            print(f"{args.file} against {where}:", flush=True)  # before any error line
            print("\n".join(plan(args.file, env, api_key=api_key, api_base=api_base).lines()))
            return 0
        config_id, created = apply(args.file, env, api_key=api_key, api_base=api_base)
        if created:
            print(f"applied {args.file} to {where}: created {config_id}")
        else:
            print(f"no changes: {where} already has {args.file}'s content: {config_id}")
        return 0
    except (PortalConfigError, samconfig.ConfigError) as exc:
        for line in str(exc).splitlines():
            print(f"{PROG}: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
