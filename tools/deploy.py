"""Deploy one environment so that it does what the template and samconfig.toml say, then prove it.

    python3 uvw.py run python -m tools.deploy [--env ENV] [--no-build] [--check-only] [--yes]
        [--no-portal] [--allow-table-replacement] [--template-file PACKAGED] [--role-arn ARN]
        [Key=Value ...]

0. Every template parameter given (samconfig.toml's parameter_overrides, then Key=Value from the
   command line, then the template's defaults: a parameter left out would silently keep its
   previous value), and the function's environment measured against Lambda's 4 KB on the
   template expanded for them (tools.cfn): past it, one line naming the biggest parameters.
1. What serves now is read (the alias `live`, its version's key location and table: Retired*
   when this deploy switches them). Which Stripe portal configuration holds portal.yaml's content
   is read (tools.portal_config), `sam build`, the change set shown and our own question (naming
   the configuration a yes creates; --yes skips it); only then is the configuration created and
   `sam deploy --config-env ENV` run with its id (an unchanged stack passes).
2. The check (tools/deploy_check.py): the alias `live` unweighted, its version's whole
   configuration equal to the function as deployed ($LATEST), the stack's parameters equal to
   the ones given, the API's integration invoking the alias. Else it names each difference
   (secrets hidden) and exits 1.
3. The stack policy that keeps CloudFormation from replacing or deleting the customers table
   (lifted for one update by --allow-table-replacement), and old versions pruned (each costs a
   SnapStart snapshot): the live one and the last one that served well (the alias `fallback`,
   tools/versions.py) stay, with the portal configurations they use; the rest are deactivated.

AWS credentials come from the environment's profile in samconfig.toml (or the usual AWS settings).
"""

from __future__ import annotations

import argparse
import contextlib
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

from tools import cfn, deploy_check, portal_config, samconfig, versions

ROOT = samconfig.SAMCONFIG.parent
CONFIG = samconfig.SAMCONFIG.resolve()
# What `sam build` leaves, deployed by name: were a build to fail and empty its folder, a bare
# `sam deploy` would fall back to template.yaml and upload handler/ unbuilt.
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
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
# For the one update the table-restore runbook needs (the stack lets go of its table, or
# replaces it): set before that deploy by --allow-table-replacement, STACK_POLICY put back after.
ALLOW_TABLE_REPLACEMENT = {
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}]
}


GUIDED_HINT = (
    "tools.deploy: not the 'sam deploy --guided' sam suggests above: tools.deploy deploys now, "
    "with every parameter from samconfig.toml (a bare or guided deploy keeps stale values)"
)


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
    env: samconfig.Environment,
    values: dict[str, str],
    folder: Path,
    *,
    confirm: bool = True,
    template_file: Path | None = None,
    role_arn: str | None = None,
    preview: bool = False,
) -> list[str]:
    """`sam deploy` with the values in a YAML file: on its command line SAM refuses an empty
    value (`ErrorRedirectUrl=`), which is how a parameter is switched off. `template_file`: the
    built template, or one `sam package` wrote (the pipeline promotes one package from dev to
    prod); `role_arn`: the role CloudFormation acts as, instead of the caller's credentials;
    `preview`: only create the change set and show it (tools.deploy asks, then deploys)."""
    overrides = folder / "parameters.yaml"
    overrides.write_text(yaml.safe_dump(values))
    return [
        *[sys.executable, "-m", "samcli", "deploy", "--config-env", env.name],
        *["--parameter-overrides", f"file://{overrides}"],
        # A commit that changes nothing the stack holds (docs only) is a passing deploy, not a
        # failure that turns the pipeline red; the check below still judges what runs.
        "--no-fail-on-empty-changeset",
        *(["--no-execute-changeset"] if preview else []),
        *([] if confirm and not preview else ["--no-confirm-changeset"]),
        # SAM looks for samconfig.toml beside the template: name ours for one elsewhere.
        *(
            ["--template-file", str(template_file.resolve()), "--config-file", str(CONFIG)]
            if template_file
            else []
        ),
        *(["--role-arn", role_arn] if role_arn else []),
    ]


def physical_id(cloudformation: Any, stack: str, logical_id: str = FUNCTION) -> str:
    resource = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    name: str = resource["StackResourceDetail"]["PhysicalResourceId"]
    return name


# The settings a version reads its Stripe key and customers from, and the parameter that keeps
# the role's grant on the previous one while that version may still serve (a canary's 90%).
RETIRED = {
    "RetiredStripeApiKeyParam": "STRIPE_API_KEY_PARAM",
    "RetiredStripeApiKeySecret": "STRIPE_API_KEY_PARAM",
    "RetiredCustomersTable": "CUSTOMERS_TABLE",
}
SECRETS_MANAGER = "secretsmanager:"


def retired_values(
    cloudformation: Any,
    stack_name: str,
    values: dict[str, str],
    declared: dict[str, dict[str, Any]],
    live: dict[str, str],
) -> dict[str, str]:
    """Retired*=<the live version's key location / table> when this deploy's differ, else ""
    (so the deploy after a switch drops the old grant). Only the parameters the template has."""
    wanted = [name for name in RETIRED if name in declared]
    if not wanted:
        return {}
    new = deploy_check.settings_of(
        {"Environment": {"Variables": cfn.Stack(**values).environment()}}
    )
    found = dict.fromkeys(wanted, "")
    for setting in ("STRIPE_API_KEY_PARAM", "CUSTOMERS_TABLE"):
        value = new.get(setting, "")
        if value.startswith("<") and value.endswith(">"):  # a resource of this stack: its name
            # Not created yet: a new table, so it differs from the live one.
            with contextlib.suppress(ClientError):
                value = physical_id(cloudformation, stack_name, value[1:-1])
        old = live.get(setting, "")
        if not old or old == value:
            continue
        if setting == "CUSTOMERS_TABLE":
            name = "RetiredCustomersTable"
        elif old.startswith(SECRETS_MANAGER) or old.startswith("arn:"):
            name, old = "RetiredStripeApiKeySecret", old.removeprefix(SECRETS_MANAGER)
        else:
            name = "RetiredStripeApiKeyParam"
        if name in found:
            found[name] = old
    return found


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 uvw.py run python -m tools.deploy",
        description=(__doc__ or "").splitlines()[0],
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
        help=(
            "no change-set question, which samconfig.toml's confirm_changeset asks for "
            "(a pipeline whose approval came before)"
        ),
    )
    parser.add_argument(
        "--template-file",
        type=Path,
        help="deploy this packaged template (`sam package` output) instead of building",
    )
    parser.add_argument(
        "--role-arn", help="the IAM role CloudFormation uses to change the stack's resources"
    )
    parser.add_argument(
        "--allow-table-replacement",
        action="store_true",
        help="for this one update, let CloudFormation replace or remove the customers table "
        "(the table-restore runbook, docs/deploy.md); the protecting stack policy is put back "
        "after it, even when it fails",
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
        session = boto3.session.Session(profile_name=env.profile, region_name=env.region)
        clients: dict[str, Any] = {
            n: session.client(n)
            for n in ("cloudformation", "lambda", "apigatewayv2", "sns")  # type: ignore[call-overload]
        }
        # portal.yaml decides the configuration id, unless samconfig.toml or the command line do.
        portal = portal_config.PORTAL_YAML.exists() and not args.no_portal
        portal = portal and "PortalConfigurationId" not in {**env.parameters, **overrides}
        if args.check_only:
            # --check-only does not ask Stripe which configuration portal.yaml is.
            unknown = frozenset({"PortalConfigurationId"} if portal else ())
            return check(clients, env, values, unknown)
        before = deployed_before(clients, env.stack_name)
        retired = retired_values(
            clients["cloudformation"], env.stack_name, values, declared, before.settings
        )
        for name, value in retired.items():
            if name not in overrides:
                values[name] = value
                if value:  # a switch: say what stays granted, and till when
                    print(switch_line(name, value), flush=True)
        # Stripe is only read until the change set is approved: a failed build or a "no"
        # changes nothing there.
        stripe_portal = PortalStep(env, values["EnvironmentType"]) if portal else None
        if not args.no_build and not args.template_file:
            run([sys.executable, "-m", "samcli", "build", "--config-env", env.name])
            # sam build ends with "Deploy: sam deploy --guided": right after it, say which wins.
            print(GUIDED_HINT, flush=True)
        template_file = args.template_file or BUILT_TEMPLATE
        if args.no_build and not template_file.exists():
            raise DeployError(f"{template_file} does not exist: build first (leave out --no-build)")
        sam_options = {"template_file": template_file, "role_arn": args.role_arn}
        # Asked where samconfig.toml's confirm_changeset asks (prod), as sam does, unless --yes:
        # the pipeline's dev deploy runs unattended, its prod deploy was approved before.
        ask = bool(env.deploy.get("confirm_changeset")) and not args.yes
        if ask and not approved(clients, env, values, stripe_portal, before, sam_options):
            return 1
        if stripe_portal is not None:
            values["PortalConfigurationId"] = stripe_portal.apply()
        try:
            if args.allow_table_replacement:
                allow_table_replacement(clients, env.stack_name, before)
            with tempfile.TemporaryDirectory() as folder:
                run(sam_deploy_command(env, values, Path(folder), confirm=False, **sam_options))
        except subprocess.CalledProcessError:
            after_failure(clients, env.stack_name, before)
            raise
        finally:
            if args.allow_table_replacement and before.function is not None:
                # Back to the protection whatever happened: a later deploy must not replace
                # the table by accident.
                policy = json.dumps(STACK_POLICY)
                clients["cloudformation"].set_stack_policy(
                    StackName=env.stack_name, StackPolicyBody=policy
                )
                print("stack policy: the customers table is protected again", flush=True)
        code = check(clients, env, values, frozenset())
        if code == 0:
            protect_and_prune(clients, env.stack_name, before, stripe_portal)
        return code
    except (samconfig.ConfigError, DeployError, portal_config.PortalConfigError) as exc:
        print(f"tools.deploy: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"tools.deploy: AWS said: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"tools.deploy: `sam {exc.cmd[3]}` failed (exit {exc.returncode})", file=sys.stderr)
        return exc.returncode


def switch_line(name: str, value: str) -> str:
    setting = RETIRED[name]
    if not value:
        return f"{name}: none ({setting} as the live version has it; no old grant kept)"
    shown = "the live version's" if deploy_check.is_secret(setting) else repr(value)
    return (
        f"{name}: {shown} ({setting} changes: the role keeps reading the old one while the "
        "previous version may still serve; the next deploy drops it)"
    )


class Before:
    """What served before this deploy: the function, the version behind `live`, its settings."""

    def __init__(self, function: str | None, served: str | None, settings: dict[str, str]):
        self.function, self.served, self.settings = function, served, settings


def deployed_before(clients: dict[str, Any], stack_name: str) -> Before:
    try:
        function = physical_id(clients["cloudformation"], stack_name)
    except ClientError:
        return Before(None, None, {})  # the first deploy
    served = versions.alias_version(clients["lambda"], function, ALIAS)
    live = versions.settings(clients["lambda"], function, served) if served else {}
    return Before(function, served, live)


def allow_table_replacement(clients: dict[str, Any], stack_name: str, before: Before) -> None:
    if before.function is None:
        raise DeployError("--allow-table-replacement: the stack does not exist yet")
    policy = json.dumps(ALLOW_TABLE_REPLACEMENT)
    clients["cloudformation"].set_stack_policy(StackName=stack_name, StackPolicyBody=policy)
    print(
        "stack policy: this update may replace or remove the customers table "
        "(--allow-table-replacement)",
        flush=True,
    )


def check(
    clients: dict[str, Any],
    env: samconfig.Environment,
    values: dict[str, str],
    unknown: frozenset[str],
) -> int:
    function = physical_id(clients["cloudformation"], env.stack_name)
    api_id = physical_id(clients["cloudformation"], env.stack_name, API)
    live, found = deploy_check.check(clients, env.stack_name, function, api_id, values, unknown)
    if found:
        print(f"{env.stack_name}: the alias '{ALIAS}' does not run what was deployed:")
        print("\n".join(f"  {line}" for line in found))
        return 1
    live_key = values.get("EnvironmentType") == "prod"
    failed = deploy_check.readiness_problems(clients["lambda"], function, live_key)
    if failed:
        print(f"{env.stack_name}: the alias '{ALIAS}' (version {live}) is not ready:")
        print("\n".join(f"  {line}" for line in failed))
        return 1
    print(f"{env.stack_name}: '{ALIAS}' is version {live}, as deployed, and ready")
    if line := unconfirmed_alarm_email(clients, env.stack_name):
        print(line)
    return 0


def unconfirmed_alarm_email(clients: dict[str, Any], stack_name: str) -> str | None:
    """One line when the stack's own alarm topic has an email subscription nobody confirmed."""
    try:
        topic = physical_id(clients["cloudformation"], stack_name, "AlarmTopic")
    except ClientError:
        return None  # no topic of the stack's own: alarms go to the operator's topics
    pending = deploy_check.unconfirmed_subscriptions(clients["sns"], topic)
    if not pending:
        return None
    return (
        f"alarms: the subscription of {', '.join(pending)} to the alarm topic is still "
        "unconfirmed: open the link in the email from AWS Notifications, or no page reaches it"
    )


def protect_and_prune(
    clients: dict[str, Any], stack_name: str, before: Before, stripe_portal: PortalStep | None
) -> None:
    policy = json.dumps(STACK_POLICY)
    clients["cloudformation"].set_stack_policy(StackName=stack_name, StackPolicyBody=policy)
    function = physical_id(clients["cloudformation"], stack_name)
    live = versions.alias_version(clients["lambda"], function, ALIAS)
    assert live is not None  # the check just read it
    print(f"stack policy set; {prune_line(clients, function, live, before.served)}")
    if stripe_portal is not None:
        # Only the configurations a kept version (live, fallback) serves with stay active.
        kept = [
            v
            for v in (live, versions.alias_version(clients["lambda"], function, versions.FALLBACK))
            if v
        ]
        used = {
            versions.settings(clients["lambda"], function, v).get("PORTAL_CONFIGURATION_ID", "")
            for v in kept
        }
        deactivated = stripe_portal.deactivate_unused(used - {""})
        print(f"portal configurations deactivated: {', '.join(deactivated) or 'none'}")


def after_failure(clients: dict[str, Any], stack_name: str, before: Before) -> None:
    """A failed deploy (a canary rolled back): when `live` is still on the version that served,
    the failed version is pruned and never becomes the rollback target."""
    if before.function is None or before.served is None:
        return
    live = versions.alias_version(clients["lambda"], before.function, ALIAS)
    if live != before.served:
        return  # not back where it was: leave every version for a person to look at
    pruned = prune_line(clients, before.function, live, None)
    print(f"the deploy failed; '{ALIAS}' is still version {live}: {pruned}")


def prune_line(clients: dict[str, Any], function: str, live: str, served: str | None) -> str:
    target, deleted = versions.keep(clients["lambda"], function, live, served)
    line = f"rollback target (alias '{versions.FALLBACK}'): {target or 'none'}; "
    line += f"old versions deleted: {', '.join(deleted) or 'none'}"
    if target is not None and versions.inactive(clients["lambda"], function, target):
        line += (
            f"; version {target} is Inactive (SnapStart snapshot deleted after 14 days "
            "without an invoke): invoke it once before rolling back to it"
        )
    return line


class PortalStep:
    """portal.yaml in the environment's Stripe account: which configuration holds its content
    (read now), created only when apply() is called, after the change set is approved."""

    def __init__(self, env: samconfig.Environment, environment_type: str) -> None:
        self.api_key, self.api_base = portal_config.stripe_key(env, environment_type)
        self.env = portal_config.resolved(env)
        self.plan = portal_config.plan(
            portal_config.PORTAL_YAML, env, api_key=self.api_key, api_base=self.api_base
        )

    def promise(self) -> str:
        if self.plan.id is not None:
            return f"portal configuration {self.plan.id} (portal.yaml's content, exists)"
        return (
            "a NEW Stripe portal configuration for portal.yaml's content "
            f"({self.plan.digest[:12]}) in {self.env.stack_name}'s Stripe account"
        )

    def apply(self) -> str:
        config_id, created = portal_config.apply(
            portal_config.PORTAL_YAML, self.env, api_key=self.api_key, api_base=self.api_base
        )
        print(f"portal.yaml: {config_id} ({'created' if created else 'exists'})", flush=True)
        return config_id

    def deactivate_unused(self, keep: set[str]) -> list[str]:
        return portal_config.deactivate_unused(
            self.env, keep, api_key=self.api_key, api_base=self.api_base
        )


def approved(
    clients: dict[str, Any],
    env: samconfig.Environment,
    values: dict[str, str],
    stripe_portal: PortalStep | None,
    before: Before,
    sam_options: dict[str, Any],
) -> bool:
    """The change set shown (`sam deploy --no-execute-changeset`), then our own question, which
    names the portal configuration that a yes creates. No: the change set is deleted."""
    shown = dict(values)
    if stripe_portal is not None:
        # The configuration for this content if it exists, else the one live now: nothing is
        # created at Stripe to show a change set.
        current = before.settings.get("PORTAL_CONFIGURATION_ID", "")
        shown["PortalConfigurationId"] = stripe_portal.plan.id or current
    with tempfile.TemporaryDirectory() as folder:
        run(sam_deploy_command(env, shown, Path(folder), preview=True, **sam_options))
    what = f" with {stripe_portal.promise()}" if stripe_portal is not None else ""
    try:
        answer = input(f"Deploy this change set to {env.stack_name}{what}? [y/N] ")
    except EOFError:  # no terminal (a pipeline without --yes): no
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    cloudformation = clients["cloudformation"]
    listed = cloudformation.list_change_sets(StackName=env.stack_name).get("Summaries", [])
    for change_set in listed:
        # Ours: SAM names them samcli-deploy<timestamp>; only one not yet executed.
        name = change_set["ChangeSetName"]
        if name.startswith("samcli-deploy") and change_set.get("ExecutionStatus") == "AVAILABLE":
            cloudformation.delete_change_set(StackName=env.stack_name, ChangeSetName=name)
    print("declined: change set deleted; nothing deployed, nothing created at Stripe")
    return False


def run(command: list[str]) -> None:
    print("+ sam " + " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - our own argv, no shell


if __name__ == "__main__":
    sys.exit(main())
