"""Deploy one environment so that it does what the template and samconfig.toml say, then prove it.

    python3 -m uv run python -m tools.deploy [--env ENV] [--no-build] [--check-only] [--yes]
        [--no-portal] [Key=Value ...]

1. `portal.yaml` applied to the environment's Stripe account (tools.portal_config), whose
   configuration id becomes PortalConfigurationId; `sam build`, then `sam deploy --config-env
   ENV` with *every* template parameter given (samconfig.toml's parameter_overrides, then
   Key=Value from the command line, then the template's defaults): a parameter left out would
   silently keep its previous value.
2. The check (tools/deploy_check.py): the alias `live` unweighted, its version's whole
   configuration equal to the function as deployed ($LATEST), the stack's parameters equal to
   the ones given, the API's integration invoking the alias. Else it names each difference
   (secrets hidden) and exits 1.
3. The stack policy that keeps CloudFormation from replacing or deleting the customers table,
   and old versions pruned (each costs a SnapStart snapshot): the live one and the one before it
   (to roll back to) stay.

AWS credentials come from the environment's profile in samconfig.toml (or the usual AWS settings).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from samtranslator.yaml_helper import yaml_parse

from tools import cfn, deploy_check, portal_config, samconfig

ROOT = samconfig.SAMCONFIG.parent
ALIAS = deploy_check.ALIAS
FUNCTION = "BillingPortalFunction"
API = "BillingApi"
# The customers table maps users to Stripe customers: an update must never replace or delete it
# (a changed key schema would, leaving every user without their customer).
STACK_POLICY = {
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["Update:Replace", "Update:Delete"],
            "Resource": "LogicalResourceId/CustomersTable",
        },
    ]
}


class DeployError(Exception):
    """One plain line for the user."""


def template_parameters(template: Path = ROOT / "template.yaml") -> dict[str, dict[str, Any]]:
    # The SAM CLI's own reader of CloudFormation YAML (it knows !Ref, !Sub and the rest).
    parameters: dict[str, dict[str, Any]] = yaml_parse(template.read_text())["Parameters"]
    return parameters


def deploy_parameters(
    env: samconfig.Environment, overrides: dict[str, str], declared: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Every declared parameter's value for this deploy; an unknown or missing one is an error."""
    given = {**env.parameters, **overrides}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(f"not a template parameter: {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise DeployError(
                f"{name} has no value: set it in samconfig.toml's [{env.name}] parameter_overrides"
            )
    return values


# --- Lambda's 4 KB environment ----------------------------------------------------------------

# A variable that is a dynamic reference to a secret this stack generates: CloudFormation puts the
# secret's value there, whose length the template fixes (GenerateSecretString's PasswordLength).
_GENERATED = re.compile(r"\{\{resolve:secretsmanager:<(\w+)>:SecretString\}\}")


def environment_bytes(values: dict[str, str], stack_name: str) -> int:
    """The bytes the function's environment takes for these parameter values, from the template
    expanded as CloudFormation would (tools.cfn), counted as Lambda's API counts them."""
    # The transform's own chatter (feature toggles, metrics) is not for the operator.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    stack = cfn.Stack(**values)
    # tools.cfn plays a stack of its own name; this deploy's name is what the variables carry.
    variables = {
        name: value.replace(cfn.STACK, stack_name) for name, value in stack.environment().items()
    }
    resolved = {}
    for name, value in variables.items():
        match = _GENERATED.fullmatch(value)
        secret = stack.resources.get(match.group(1), {}) if match else {}
        length = secret.get("Properties", {}).get("GenerateSecretString", {}).get("PasswordLength")
        if length is not None:
            resolved[name] = int(length)
    return cfn.environment_size(variables, resolved)


def check_environment_room(
    values: dict[str, str], declared: dict[str, dict[str, Any]], stack_name: str
) -> int:
    """The environment's size; DeployError, before anything is deployed, when it is past Lambda's
    limit (CloudFormation would fail half-way through the update), naming the parameters whose
    values take the most room: each one's bytes are what the environment would shrink by with
    that parameter at its default."""
    size = environment_bytes(values, stack_name)
    if size <= cfn.ENVIRONMENT_LIMIT:
        return size
    costs = []
    for name, value in values.items():
        default = str(declared[name].get("Default", ""))
        if value == default:
            continue
        costs.append((size - environment_bytes({**values, name: default}, stack_name), name))
    costs.sort(key=lambda cost: (-cost[0], cost[1]))
    largest = ", ".join(f"{name} {cost} bytes" for cost, name in costs[:5] if cost > 0)
    raise DeployError(
        f"the function's environment would take {size} bytes, past Lambda's limit of "
        f"{cfn.ENVIRONMENT_LIMIT}; the most room goes to: {largest}"
    )


def sam_deploy_command(
    env: samconfig.Environment, values: dict[str, str], folder: Path, *, confirm: bool = True
) -> list[str]:
    """`sam deploy` with the values in a YAML file: on its command line SAM refuses an empty
    value (`ErrorRedirectUrl=`), which is how a parameter is switched off."""
    overrides = folder / "parameters.yaml"
    overrides.write_text(yaml.safe_dump(values))
    return [
        *[sys.executable, "-m", "samcli", "deploy", "--config-env", env.name],
        *["--parameter-overrides", f"file://{overrides}"],
        # A commit that changes nothing the stack holds (docs only) is a passing deploy, not a
        # failure that turns the pipeline red; the check below still judges what runs.
        "--no-fail-on-empty-changeset",
        *([] if confirm else ["--no-confirm-changeset"]),
    ]


def physical_id(cloudformation: Any, stack: str, logical_id: str = FUNCTION) -> str:
    resource = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    name: str = resource["StackResourceDetail"]["PhysicalResourceId"]
    return name


def prune(lambda_client: Any, function: str, live: int, keep_before_live: int = 1) -> list[str]:
    """Delete published versions older than the live one's predecessors; the versions deleted."""
    pages = lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    numbers = sorted(
        int(v["Version"]) for page in pages for v in page["Versions"] if v["Version"].isdigit()
    )
    older = [n for n in numbers if n < live]
    doomed = older[: max(len(older) - keep_before_live, 0)]
    for number in doomed:
        lambda_client.delete_function(FunctionName=function, Qualifier=str(number))
    return [str(n) for n in doomed]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default)")
    parser.add_argument("--no-build", action="store_true", help="deploy the last `sam build`")
    parser.add_argument(
        "--check-only", action="store_true", help="only check the deployed stack; change nothing"
    )
    parser.add_argument(
        "--no-portal",
        action="store_true",
        help="leave the Stripe portal configuration alone (portal.yaml is not applied)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="no change-set prompt (a pipeline whose approval came before)",
    )
    parser.add_argument("overrides", nargs="*", metavar="Key=Value", help="parameter overrides")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        env = samconfig.load(args.env)
        overrides = samconfig.parse_overrides(args.overrides)
        declared = template_parameters()
        values = deploy_parameters(env, overrides, declared)
        if not args.check_only:
            check_environment_room(values, declared, env.stack_name)
        # portal.yaml decides the configuration id, unless samconfig.toml or the command line do.
        portal = portal_config.PORTAL_YAML.exists() and not args.no_portal
        portal = portal and "PortalConfigurationId" not in {**env.parameters, **overrides}
        if portal and not args.check_only:
            values["PortalConfigurationId"] = apply_portal(env)
        if not args.check_only:
            if not args.no_build:
                run([sys.executable, "-m", "samcli", "build", "--config-env", env.name])
            with tempfile.TemporaryDirectory() as folder:
                run(sam_deploy_command(env, values, Path(folder), confirm=not args.yes))
        session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
        clients: dict[str, Any] = {
            n: session.client(n)
            for n in ("cloudformation", "lambda", "apigatewayv2")  # type: ignore[call-overload]
        }
        cloudformation, lambda_client = clients["cloudformation"], clients["lambda"]
        function = physical_id(cloudformation, env.stack_name)
        api_id = physical_id(cloudformation, env.stack_name, API)
        # --check-only does not ask Stripe which configuration portal.yaml is.
        unknown = frozenset({"PortalConfigurationId"} if portal and args.check_only else ())
        live, found = deploy_check.check(clients, env.stack_name, function, api_id, values, unknown)
        if found:
            print(f"{env.stack_name}: the alias '{ALIAS}' does not run what was deployed:")
            print("\n".join(f"  {line}" for line in found))
            return 1
        print(f"{env.stack_name}: '{ALIAS}' is version {live}, as deployed")
        if not args.check_only:
            policy = json.dumps(STACK_POLICY)
            cloudformation.set_stack_policy(StackName=env.stack_name, StackPolicyBody=policy)
            pruned = prune(lambda_client, function, live)
            print(f"stack policy set; old versions deleted: {', '.join(pruned) or 'none'}")
    except (samconfig.ConfigError, DeployError, portal_config.PortalConfigError) as exc:
        print(f"tools.deploy: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"tools.deploy: AWS said: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"tools.deploy: `sam {exc.cmd[3]}` failed (exit {exc.returncode})", file=sys.stderr)
        return exc.returncode
    return 0


def apply_portal(env: samconfig.Environment) -> str:
    """portal.yaml applied to the environment's Stripe account; the configuration's id."""
    api_key, api_base = portal_config.stripe_key(env)
    config_id, changed = portal_config.apply(
        portal_config.PORTAL_YAML, env, api_key=api_key, api_base=api_base
    )
    print(f"portal.yaml: {config_id} ({'updated' if changed else 'unchanged'})", flush=True)
    return config_id


def run(command: list[str]) -> None:
    print("+ sam " + " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - our own argv, no shell


if __name__ == "__main__":
    sys.exit(main())
