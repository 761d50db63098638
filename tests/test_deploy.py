"""The documented deploy command (tools.deploy): every parameter given, then the post-deploy check
that the alias `live` runs what was just deployed, against moto's CloudFormation and Lambda."""

from __future__ import annotations

import copy
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.stub
import pytest
import requests
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import LambdaStorage
from samcli.cli.types import CfnParameterOverridesType

from testing.deployments import LARGE_SETUP as LARGE
from testing.fake_stripe import FakeStripe
from tools import deploy, deploy_check, portal_config, samconfig

STACK = "billing-portal-dev"  # samconfig.toml's [default]
FUNCTION_TEMPLATE = {
    "Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        "BillingPortalFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "billing_portal.app.lambda_handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def lambda_handler(event, context):\n    return {}\n"},
                "MemorySize": 1024,
            },
        },
    }
}


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto behind the profiles samconfig.toml names."""
    profiles = "".join(
        f"[profile {name}]\nregion = us-east-1\naws_access_key_id = testing\n"
        "aws_secret_access_key = testing\n"
        for name in ("billing-portal-dev", "billing-portal-prod")
    )
    (tmp_path / "config").write_text(profiles)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(LambdaStorage, "publish_version", _publish_version)
    # Lambda without Docker: each invocation answers what `answer` queued (else echoes the
    # event). A deploy's readiness check is the real function's job, tested on its own below.
    monkeypatch.setattr(deploy.deploy_check, "readiness_problems", lambda *_: [])
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def answer(*results: dict[str, Any]) -> None:
    """What the function answers to the next invocations (moto's queue for Lambda without
    Docker)."""
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(r) for r in results], "region": "us-east-1"},
        timeout=5,
    )
    assert response.status_code == 201


def _publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> Any:
    """moto's publish_version numbers a new version len(versions) + 1, which after a delete
    reuses a number; Lambda never does. The same, numbered after the highest ever published."""
    function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
    entry = self._functions[function.function_name]
    published = entry["versions"]
    if published and not function.code_or_config_updated:
        return published[-1]
    function.code_or_config_updated = False
    version = copy.copy(entry["latest"])
    entry["highest"] = max([entry.get("highest", 0), *(int(v.version) for v in published)]) + 1
    version.set_version(entry["highest"])
    published.append(version)
    self._arns[version.function_arn] = version
    return version


class Deployed:
    """The stack as CloudFormation leaves it: the function ($LATEST) updated to the template, the
    alias `live` on whichever version SAM published, the stack's parameters, and the HTTP API
    whose integration invokes the alias."""

    def __init__(self, values: dict[str, str]) -> None:
        session = boto3.session.Session(profile_name="billing-portal-dev")
        self.cloudformation = session.client("cloudformation")
        self.lambda_ = session.client("lambda")
        self.apigateway = session.client("apigatewayv2")
        self.api_id = self.apigateway.create_api(Name="BillingApi", ProtocolType="HTTP")["ApiId"]
        template = {
            **FUNCTION_TEMPLATE,
            "Parameters": {name: {"Type": "String"} for name in values},
            "Resources": {
                **FUNCTION_TEMPLATE["Resources"],
                # moto plays no AWS::ApiGatewayV2::Api in CloudFormation: a resource whose
                # physical id is the API's id stands in for the stack's BillingApi.
                "BillingApi": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": self.api_id, "Type": "String", "Value": "api"},
                },
            },
        }
        self.template = json.dumps(template)
        self.cloudformation.create_stack(
            StackName=STACK, TemplateBody=self.template, Parameters=self.parameters(values)
        )
        self.name = deploy.physical_id(self.cloudformation, STACK)
        self.update(values)
        version = self.lambda_.publish_version(FunctionName=self.name)["Version"]
        alias = self.lambda_.create_alias(
            FunctionName=self.name, Name="live", FunctionVersion=version
        )
        self.integration = self.apigateway.create_integration(
            ApiId=self.api_id,
            IntegrationType="AWS_PROXY",
            PayloadFormatVersion="2.0",
            IntegrationUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"{alias['AliasArn']}/invocations",
        )["IntegrationId"]

    @staticmethod
    def parameters(values: dict[str, str]) -> list[dict[str, str]]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]

    def update(self, values: dict[str, str], *, publish: bool = False) -> None:
        """What a deploy does to the stack and the function; with `publish`, what SAM does when
        the version's logical id changed."""
        try:
            self.cloudformation.update_stack(
                StackName=STACK, TemplateBody=self.template, Parameters=self.parameters(values)
            )
        except ClientError as exc:  # as CloudFormation answers an unchanged stack
            assert "No updates are to be performed" in str(exc)
        variables = {
            "ALLOWED_ORIGINS": values["AllowedOrigins"],
            "BILLING_ROLES": values["BillingRoles"],
            "PORTAL_CONFIGURATION_ID": values["PortalConfigurationId"],
        }
        self.lambda_.update_function_configuration(
            FunctionName=self.name,
            Environment={"Variables": variables},
            MemorySize=int(values["MemorySize"]),
        )
        if publish:
            version = self.lambda_.publish_version(FunctionName=self.name)["Version"]
            self.lambda_.update_alias(FunctionName=self.name, Name="live", FunctionVersion=version)


def values(env: str = "default", **overrides: str) -> dict[str, str]:
    return deploy.deploy_parameters(samconfig.load(env), overrides, deploy.template_parameters())


# --- Every parameter given ------------------------------------------------------------------


def test_every_template_parameter_is_given_so_none_keeps_a_stale_value() -> None:
    given = values(BillingRoles="billing-admin", BillingRoleClaim="roles")
    assert set(given) == set(deploy.template_parameters())
    assert given["AllowedOrigins"] == "http://localhost:3000,https://app.dev.example.com"
    assert given["BillingRoles"] == "billing-admin"
    assert given["ErrorRedirectUrl"] == ""  # the template's default, not the stack's last value
    assert given["MemorySize"] == "1024"


def test_sam_reads_the_parameter_file_exactly_as_given(tmp_path: Path) -> None:
    given = values(ErrorRedirectUrl="", AllowedOrigins="https://a.example,https://b.example")
    command = deploy.sam_deploy_command(samconfig.load("prod"), given, tmp_path)
    assert command[3:6] == ["deploy", "--config-env", "prod"]
    [file] = [arg for arg in command if arg.startswith("file://")]
    # The SAM CLI's own parser of --parameter-overrides.
    assert CfnParameterOverridesType().convert((file,), None, None) == given
    assert "--no-confirm-changeset" not in command  # prod's samconfig asks for a "y"
    # An unchanged stack (a docs-only commit) is a passing deploy: SAM exits 0 on no changes.
    assert "--no-fail-on-empty-changeset" in command
    unattended = deploy.sam_deploy_command(samconfig.load("prod"), given, tmp_path, confirm=False)
    assert unattended[-1] == "--no-confirm-changeset"


def test_an_unknown_or_missing_parameter_is_one_plain_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy.main(["--check-only", "BilingRoles=admin"]) == 2
    assert capsys.readouterr().err == "tools.deploy: not a template parameter: BilingRoles\n"
    config = tmp_path / "samconfig.toml"
    config.write_text('[x.global.parameters]\nstack_name = "s"\n')
    with pytest.raises(deploy.DeployError, match="JwtIssuer has no value"):
        deploy.deploy_parameters(samconfig.load("x", config), {}, deploy.template_parameters())


# --- Lambda's 4 KB environment --------------------------------------------------------------


def test_an_environment_past_4_kb_is_refused_before_anything_is_deployed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The size is the real template's expansion for these values (tools.cfn), so the refusal
    follows the template: it goes away once the template fits this setup in the limit."""
    commands: list[list[str]] = []
    monkeypatch.setattr(deploy, "run", commands.append)
    # The large setup with 100 origins: past the limit however the template lays settings out.
    large = {
        **LARGE,
        "AllowedOrigins": ",".join(f"https://t{n:03}.example.com" for n in range(100)),
    }
    given = deploy.deploy_parameters(samconfig.load("prod"), large, deploy.template_parameters())
    size = deploy.environment_bytes(given, "billing-portal-prod")
    assert size > 4096
    assert (
        deploy.main(["--env", "prod", "--no-portal", *(f"{k}={v}" for k, v in large.items())]) == 2
    )
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"tools.deploy: the function's environment would take {size} bytes, past Lambda's "
        "limit of 4096; the most room goes to: AllowedOrigins "
    )
    named = [part.split()[0] for part in line.split(": ")[-1].split(", ")]
    assert named[:2] == ["AllowedOrigins", "HostedConfirmationMessage"]  # biggest first
    assert commands == []  # no build, no deploy


def test_the_environment_counts_the_salt_as_deployed_and_the_stack_by_its_name() -> None:
    given = values()
    short = deploy.environment_bytes(given, "bp")
    # POWERTOOLS_SERVICE_NAME and the metrics namespace carry the stack name.
    assert deploy.environment_bytes(given, "bp" + "x" * 10) == short + 20
    variables = deploy.cfn.Stack(**given).environment()
    assert variables["USER_HASH_SALT"].startswith("{{resolve:secretsmanager:")
    counted = {**variables, "USER_HASH_SALT": "s" * 32}  # the generated salt's 32 characters
    counted = {k: v.replace(deploy.cfn.STACK, "bp") for k, v in counted.items()}
    assert short == deploy.cfn.environment_size(counted)


# --- The post-deploy check ------------------------------------------------------------------


def test_a_live_alias_on_the_version_just_deployed_passes(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Deployed(values())
    stack.update(values(BillingRoleClaim="roles", BillingRoles="billing-admin"), publish=True)
    code = deploy.main(["--check-only", "BillingRoleClaim=roles", "BillingRoles=billing-admin"])
    assert (code, capsys.readouterr().out) == (
        0,
        "billing-portal-dev: 'live' is version 2, as deployed, and ready\n",
    )


def test_settings_that_never_reached_the_alias_are_named_and_fail_the_deploy(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Deployed(values())
    # The defect: the function changed, but no version was published for the alias.
    stack.update(values(BillingRoles="billing-admin", MemorySize="1769"))
    assert deploy.main(["--check-only", "BillingRoles=billing-admin", "MemorySize=1769"]) == 1
    out = [line for line in capsys.readouterr().out.splitlines() if line != deploy.GUIDED_HINT]
    assert out[0] == "billing-portal-dev: the alias 'live' does not run what was deployed:"
    assert "  MemorySize: live 1024, deployed 1769" in out
    assert "  BILLING_ROLES: live '', deployed 'billing-admin'" in out


def test_a_stack_deployed_with_other_parameters_than_samconfig_says_fails(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    Deployed(values(AllowedOrigins="https://old.example.com,https://app.dev.example.com"))
    assert deploy.main(["--check-only"]) == 1
    assert (
        "  parameter AllowedOrigins: stack 'https://old.example.com,https://app.dev.example.com', "
        "deployed 'http://localhost:3000,https://app.dev.example.com'"
    ) in capsys.readouterr().out.splitlines()


def test_a_weighted_alias_is_not_as_deployed(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    stack = Deployed(values())
    stack.update(values(), publish=True)  # version 2 on the alias
    # What CodeDeploy leaves during a canary (or after one stopped half-way): 10% to version 1.
    stack.lambda_.update_alias(
        FunctionName=stack.name,
        Name="live",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}},
    )
    assert deploy.main(["--check-only"]) == 1
    out = capsys.readouterr().out
    print(out)  # for the report
    assert out.splitlines() == [
        "billing-portal-dev: the alias 'live' does not run what was deployed:",
        "  alias live: weighted, not as deployed: version 1 takes 10% beside version 2 "
        "(a canary in progress, or one left half-way)",
    ]


def test_every_function_property_is_compared_and_secrets_are_never_printed(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Deployed(values())
    # Changes that published no version: a property SAM did not hash, a salt, a Stripe key.
    stack.lambda_.update_function_configuration(
        FunctionName=stack.name,
        Timeout=29,
        Handler="other.handler",
        Environment={
            "Variables": {
                "ALLOWED_ORIGINS": values()["AllowedOrigins"],
                "BILLING_ROLES": "",
                "PORTAL_CONFIGURATION_ID": "",
                "USER_HASH_SALT": "pepper-0123456789abcdef",
                "STRIPE_API_BASE": "sk_test_51Leaked",
            }
        },
    )
    assert deploy.main(["--check-only"]) == 1
    out = capsys.readouterr().out
    assert "  Timeout: live 3, deployed 29" in out.splitlines()
    assert "  Handler: live 'billing_portal.app.lambda_handler', deployed 'other.handler'" in out
    assert "  USER_HASH_SALT: changed (value hidden)" in out.splitlines()
    assert "  STRIPE_API_BASE: changed (value hidden)" in out.splitlines()
    assert "pepper" not in out and "sk_test" not in out


def test_an_api_that_does_not_invoke_the_alias_fails(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Deployed(values())
    arn = stack.lambda_.get_function(FunctionName=stack.name)["Configuration"]["FunctionArn"]
    # The integration points at the function itself ($LATEST), bypassing the alias's rollout.
    stack.apigateway.update_integration(
        ApiId=stack.api_id,
        IntegrationId=stack.integration,
        IntegrationUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}"
        "/invocations",
    )
    assert deploy.main(["--check-only"]) == 1
    assert (
        f"  API integration {stack.integration}: invokes {arn}, not the alias live ({arn}:live)"
        in capsys.readouterr().out.splitlines()
    )


class Sam:
    """The SAM CLI at the command level, which cannot reach AWS here: CloudFormation's part is
    played on moto. A preview (--no-execute-changeset) leaves a change set as SAM names it."""

    def __init__(self, stack: Deployed) -> None:
        self.stack = stack
        self.commands: list[list[str]] = []
        self.deployed: dict[str, str] = {}

    def __call__(self, command: list[str]) -> None:
        self.commands.append(command)
        if command[3] != "deploy":
            return
        [file] = [a.removeprefix("file://") for a in command if a.startswith("file://")]
        given = yaml.safe_load(Path(file).read_text())
        if "--no-execute-changeset" in command:
            self.stack.cloudformation.create_change_set(
                StackName=STACK,
                ChangeSetName=f"samcli-deploy{len(self.commands)}",
                TemplateBody=self.stack.template,
                Parameters=self.stack.parameters(given),
            )
            return
        self.deployed = given
        self.stack.update(given, publish=True)


def stripe_account(fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    """dev's test-mode key where its function reads it (moto's SSM); Stripe is the stand-in."""
    ssm = boto3.session.Session(profile_name="billing-portal-dev").client("ssm")
    name = samconfig.load("default").stripe_key_location
    ssm.put_parameter(Name=name, Value="sk_test_fake", Type="SecureString")
    monkeypatch.setattr(portal_config, "API_BASE", fake_stripe.url)


def test_a_stripe_key_left_in_the_shell_is_refused_before_anything_happens(
    aws: None,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stripe_account(fake_stripe, monkeypatch)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_from_local_work")
    Deployed(values())
    commands: list[list[str]] = []
    monkeypatch.setattr(deploy, "run", commands.append)
    assert deploy.main(["--yes"]) == 2
    assert capsys.readouterr().err == (
        "tools.deploy: STRIPE_API_KEY set in the shell: default uses the key its function reads "
        f"({samconfig.load('default').stripe_key_location}); unset it\n"
    )
    assert commands == [] and fake_stripe.requests == []


def stripe_writes(fake_stripe: FakeStripe) -> list[str]:
    return [r.path for r in fake_stripe.requests if r.method != "GET"]


def asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default environment with confirm_changeset = true, as prod's samconfig.toml has it."""
    real = samconfig.load

    def load(env: str = "default", path: Path = samconfig.SAMCONFIG) -> samconfig.Environment:
        loaded = real(env, path)
        loaded.deploy["confirm_changeset"] = True
        return loaded

    monkeypatch.setattr(deploy.samconfig, "load", load)


def test_where_samconfig_does_not_ask_the_deploy_runs_unattended(
    aws: None, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dev's samconfig.toml: confirm_changeset = false, as the pipeline's dev job runs it.
    stripe_account(fake_stripe, monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal: a question would read "no"
    stack = Deployed(values())
    sam = Sam(stack)
    monkeypatch.setattr(deploy, "run", sam)

    assert deploy.main([]) == 0
    assert [c[3:6] for c in sam.commands] == [
        ["build", "--config-env", "default"],
        ["deploy", "--config-env", "default"],
    ]
    assert "--no-execute-changeset" not in sam.commands[1]


def test_the_deploy_command_shows_asks_then_deploys_every_parameter_checks_and_prunes(
    aws: None,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stripe_account(fake_stripe, monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    asks(monkeypatch)
    stack = Deployed(values())
    for _ in range(3):  # earlier deploys
        stack.update(values(), publish=True)
    sam = Sam(stack)
    monkeypatch.setattr(deploy, "run", sam)
    assert deploy.main(["BillingRoleClaim=roles", "BillingRoles=billing-admin"]) == 0
    assert [c[3:6] for c in sam.commands] == [
        ["build", "--config-env", "default"],
        ["deploy", "--config-env", "default"],  # the change set, shown
        ["deploy", "--config-env", "default"],  # after the yes
    ]
    assert "--no-execute-changeset" in sam.commands[1]
    assert "--no-confirm-changeset" in sam.commands[2]
    # portal.yaml went to the environment's Stripe account after the yes, its id to the function.
    [config_id] = set(fake_stripe.configurations) - {fake_stripe.default_configuration}
    assert fake_stripe.configurations[config_id]["metadata"]["stack"] == STACK
    assert sam.deployed["PortalConfigurationId"] == config_id
    out = capsys.readouterr().out
    # Printed after sam build's own hint, which would send users to a guided deploy.
    assert (
        "tools.deploy: not the 'sam deploy --guided' sam suggests above: tools.deploy deploys "
        "now, with every parameter from samconfig.toml (a bare or guided deploy keeps stale "
        "values)"
    ) in out
    question, answered = out.split("? [y/N] ")
    assert question.splitlines()[-1].startswith(
        "Deploy this change set to billing-portal-dev with a NEW Stripe portal configuration "
        "for portal.yaml's content ("
    )
    assert answered.splitlines() == [
        f"portal.yaml: {config_id} (created)",
        "billing-portal-dev: 'live' is version 5, as deployed, and ready",
        "stack policy set; rollback target (alias 'fallback'): 4; old versions deleted: 1, 2, 3",
        "portal configurations deactivated: none",
    ]
    policy = json.loads(stack.cloudformation.get_stack_policy(StackName=STACK)["StackPolicyBody"])
    assert {
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["Update:Replace", "Update:Delete"],
        "Resource": "LogicalResourceId/CustomersTable",
    } in policy["Statement"]
    versions = stack.lambda_.list_versions_by_function(FunctionName=stack.name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "4", "5"]


def test_a_declined_change_set_deploys_nothing_and_writes_nothing_at_stripe(
    aws: None,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stripe_account(fake_stripe, monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    asks(monkeypatch)
    stack = Deployed(values())
    sam = Sam(stack)
    monkeypatch.setattr(deploy, "run", sam)
    assert deploy.main([]) == 1
    assert capsys.readouterr().out.split("? [y/N] ")[1] == (
        "declined: change set deleted; nothing deployed, nothing created at Stripe\n"
    )
    assert stripe_writes(fake_stripe) == []
    assert set(fake_stripe.configurations) == {fake_stripe.default_configuration}
    assert stack.cloudformation.list_change_sets(StackName=STACK)["Summaries"] == []
    assert [c[3] for c in sam.commands] == ["build", "deploy"]  # the preview only


def test_a_failed_build_changes_nothing_at_stripe(
    aws: None, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    stripe_account(fake_stripe, monkeypatch)
    Deployed(values())

    def sam(command: list[str]) -> None:
        raise subprocess.CalledProcessError(1, command)  # `sam build` fails

    monkeypatch.setattr(deploy, "run", sam)
    assert deploy.main(["--yes"]) == 1
    assert stripe_writes(fake_stripe) == []


def test_apply_deploy_rollback_each_version_keeps_its_own_portal(
    aws: None,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stripe_account(fake_stripe, monkeypatch)
    portal = tmp_path / "portal.yaml"
    monkeypatch.setattr(portal_config, "PORTAL_YAML", portal)
    shipped = (Path(__file__).parent.parent / "portal.yaml").read_text()
    stack = Deployed(values())
    monkeypatch.setattr(deploy, "run", Sam(stack))

    def release(headline: str) -> tuple[str, str]:
        """portal.yaml with this headline, deployed with --yes: (live version, its portal)."""
        portal.write_text(
            shipped.replace(
                "headline: Manage your subscription, payment method and invoices.",
                f"headline: {headline}",
            )
        )
        assert deploy.main(["--yes"]) == 0
        live = stack.lambda_.get_function_configuration(FunctionName=stack.name, Qualifier="live")
        return live["Version"], live["Environment"]["Variables"]["PORTAL_CONFIGURATION_ID"]

    first = release("Billing, release one.")
    second = release("Billing, release two.")
    # The rollback: the alias back on the rollback target, as an operator or CodeDeploy does.
    target = stack.lambda_.get_alias(FunctionName=stack.name, Name="fallback")["FunctionVersion"]
    stack.lambda_.update_alias(FunctionName=stack.name, Name="live", FunctionVersion=target)
    rolled_back = stack.lambda_.get_function_configuration(
        FunctionName=stack.name, Qualifier="live"
    )["Environment"]["Variables"]["PORTAL_CONFIGURATION_ID"]
    sequence = [
        f"apply+deploy 1: version {first[0]}, {first[1]}",
        f"apply+deploy 2: version {second[0]}, {second[1]}",
        f"rollback: live on version {target}, {rolled_back}",
    ]
    with capsys.disabled():
        print("\n".join(sequence))  # for the report
    assert first[1] != second[1] and target == first[0] and rolled_back == first[1]
    # Both stay active while a kept version uses them; the portal of the rollback is as it was.
    configurations = fake_stripe.configurations
    assert configurations[first[1]]["active"] and configurations[second[1]]["active"]
    assert configurations[first[1]]["business_profile"]["headline"] == "Billing, release one."
    # A third release: the first configuration is no longer any kept version's, so it goes.
    stack.lambda_.update_alias(FunctionName=stack.name, Name="live", FunctionVersion=second[0])
    third = release("Billing, release three.")
    assert not configurations[first[1]]["active"]
    assert configurations[second[1]]["active"] and configurations[third[1]]["active"]
    assert configurations[fake_stripe.default_configuration]["active"]
    out = capsys.readouterr().out
    assert f"portal configurations deactivated: {first[1]}" in out
    with capsys.disabled():
        print(f"apply+deploy 3: version {third[0]}, {third[1]}; {out.splitlines()[-1]}")


def test_after_a_rolled_back_canary_the_failed_version_is_never_the_rollback_target(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Deployed(values())
    stack.update(values(), publish=True)  # version 2 serves
    outcome = iter(["ok", "rolled back", "ok"])

    def sam(command: list[str]) -> None:
        if command[3] != "deploy":
            return
        served = stack.lambda_.get_alias(FunctionName=stack.name, Name="live")["FunctionVersion"]
        [file] = [a.removeprefix("file://") for a in command if a.startswith("file://")]
        stack.update(yaml.safe_load(Path(file).read_text()), publish=True)
        if next(outcome) == "rolled back":
            # CodeDeploy saw an alarm: the alias goes back, the stack update fails.
            stack.lambda_.update_alias(FunctionName=stack.name, Name="live", FunctionVersion=served)
            raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(deploy, "run", sam)
    # Each deploy changes the memory size, so each publishes a version.
    assert (
        deploy.main(["--yes", "--no-portal", "MemorySize=1088"]) == 0
    )  # 3 serves, 2 is the target
    assert deploy.main(["--yes", "--no-portal", "MemorySize=1152"]) == 1  # 4 failed its canary
    assert deploy.main(["--yes", "--no-portal", "MemorySize=1216"]) == 0  # 5 serves
    out = [line for line in capsys.readouterr().out.splitlines() if line != deploy.GUIDED_HINT]
    print("\n".join(out))  # for the report
    assert out == [
        "billing-portal-dev: 'live' is version 3, as deployed, and ready",
        "stack policy set; rollback target (alias 'fallback'): 2; old versions deleted: 1",
        "the deploy failed; 'live' is still version 3: "
        "rollback target (alias 'fallback'): 2; old versions deleted: 4",
        "billing-portal-dev: 'live' is version 5, as deployed, and ready",
        # 3 served well before this deploy; 4 (the failed one) is not what a rollback reaches.
        "stack policy set; rollback target (alias 'fallback'): 3; old versions deleted: 2",
    ]
    versions = stack.lambda_.list_versions_by_function(FunctionName=stack.name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "3", "5"]
    fallback = stack.lambda_.get_alias(FunctionName=stack.name, Name="fallback")
    assert fallback["FunctionVersion"] == "3"


def test_a_switch_of_key_or_table_keeps_the_live_ones_readable_for_one_deploy(aws: None) -> None:
    """Retired*: the live version's key location and table while this deploy's differ, else
    empty; computed from the template expanded for the new values."""
    declared = deploy.template_parameters()
    cloudformation = boto3.session.Session(profile_name="billing-portal-dev").client(
        "cloudformation"
    )
    live = {"STRIPE_API_KEY_PARAM": "/billing-portal/stripe-api-key", "CUSTOMERS_TABLE": "t-old"}
    switched = values(StripeApiKeySecret="billing-portal/key", ExistingCustomersTable="t-old")
    assert deploy.retired_values(cloudformation, STACK, switched, declared, live) == {
        "RetiredStripeApiKeyParam": "/billing-portal/stripe-api-key",
        "RetiredStripeApiKeySecret": "",
        "RetiredCustomersTable": "",
    }
    # A table the stack creates (not there yet) differs from the live one.
    same_key = values(StripeApiKeyParam="/billing-portal/stripe-api-key")
    assert deploy.retired_values(cloudformation, STACK, same_key, declared, live) == {
        "RetiredStripeApiKeyParam": "",
        "RetiredStripeApiKeySecret": "",
        "RetiredCustomersTable": "t-old",
    }
    # Back from Secrets Manager to SSM: the secret stays readable.
    from_secret = {**live, "STRIPE_API_KEY_PARAM": "secretsmanager:billing-portal/key"}
    assert (
        deploy.retired_values(cloudformation, STACK, same_key, declared, from_secret)[
            "RetiredStripeApiKeySecret"
        ]
        == "billing-portal/key"
    )


def test_aws_refusing_is_one_plain_line(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy.main(["--check-only"]) == 2  # no such stack
    err = capsys.readouterr().err
    assert err.startswith("tools.deploy: AWS said: ") and "Traceback" not in err


# --- The table-restore runbook ----------------------------------------------------------------


def stack_policy(stack: Deployed) -> dict[str, Any]:
    body = stack.cloudformation.get_stack_policy(StackName=STACK)["StackPolicyBody"]
    policy: dict[str, Any] = json.loads(body)
    return policy


@pytest.mark.parametrize("outcome", ["deployed", "failed"])
def test_allow_table_replacement_lifts_the_policy_for_that_update_only(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outcome: str
) -> None:
    """The runbook's deploy (ExistingCustomersTable=<restored>) removes CustomersTable from the
    stack, which the normal policy's Deny on Update:Delete refuses."""
    stack = Deployed(values())
    stack.cloudformation.set_stack_policy(
        StackName=STACK, StackPolicyBody=json.dumps(deploy.STACK_POLICY)
    )
    during: list[dict[str, Any]] = []
    sam = Sam(stack)

    def run(command: list[str]) -> None:
        if command[3] == "deploy":
            during.append(stack_policy(stack))  # what CloudFormation applies to this update
            if outcome == "failed":
                raise subprocess.CalledProcessError(1, command)
        sam(command)

    monkeypatch.setattr(deploy, "run", run)
    restored = ["ExistingCustomersTable=billing-portal-dev-restored"]
    code = deploy.main(["--yes", "--no-portal", "--allow-table-replacement", *restored])
    assert code == (0 if outcome == "deployed" else 1)
    [policy] = during
    assert not [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert stack_policy(stack) == deploy.STACK_POLICY  # put back, whatever happened
    out = capsys.readouterr().out
    assert "stack policy: the customers table is protected again" in out


def test_without_the_flag_the_policy_stays_on_during_the_update(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Deployed(values())
    stack.cloudformation.set_stack_policy(
        StackName=STACK, StackPolicyBody=json.dumps(deploy.STACK_POLICY)
    )
    during: list[dict[str, Any]] = []
    sam = Sam(stack)

    def run(command: list[str]) -> None:
        if command[3] == "deploy":
            during.append(stack_policy(stack))
        sam(command)

    monkeypatch.setattr(deploy, "run", run)
    assert deploy.main(["--yes", "--no-portal"]) == 0
    assert during == [deploy.STACK_POLICY]


# --- The readiness check through the alias (what judges a stack's first deploy) -----------------


@pytest.mark.parametrize(
    ("answered", "problems"),
    [
        ({"ready": True, "checks": [{"name": "settings", "ok": True, "detail": "valid"}]}, []),
        (
            {
                "ready": False,
                "checks": [
                    {"name": "settings", "ok": True, "detail": "valid"},
                    {
                        "name": "key_mode",
                        "ok": False,
                        "detail": "a test key, but this environment needs a live key",
                    },
                ],
            },
            ["readiness: key_mode failed: a test key, but this environment needs a live key"],
        ),
        ({"statusCode": 200}, ["readiness: the function did not answer the readiness check"]),
    ],
    ids=["ready", "not ready", "no verdict"],
)
def test_the_readiness_check_through_the_alias_names_what_failed(
    answered: dict[str, Any], problems: list[str]
) -> None:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        lambda_client = boto3.client("lambda", region_name="us-east-1")
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client.create_function(
            FunctionName="f",
            Runtime="python3.13",
            Role=role,
            Handler="billing_portal.app.lambda_handler",
            Code={"ZipFile": b"not run"},
        )
        version = lambda_client.publish_version(FunctionName="f")["Version"]
        lambda_client.create_alias(FunctionName="f", Name="live", FunctionVersion=version)
        answer(answered)

        assert deploy_check.readiness_problems(lambda_client, "f", live_key=True) == problems


def test_an_unconfirmed_alarm_email_is_said_in_one_line() -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="alarms")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
        stubbed = botocore.stub.Stubber(sns)
        stubbed.add_response(
            "list_subscriptions_by_topic",
            {
                "Subscriptions": [
                    {
                        "SubscriptionArn": "PendingConfirmation",
                        "Owner": "123456789012",
                        "Protocol": "email",
                        "Endpoint": "oncall@example.com",
                        "TopicArn": topic,
                    }
                ]
            },
        )
        with stubbed:
            # moto confirms email subscriptions at once; AWS waits for the click.
            assert deploy_check.unconfirmed_subscriptions(sns, topic) == ["oncall@example.com"]
