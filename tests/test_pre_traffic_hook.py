"""The PreTraffic hook (hooks/pre_traffic.py) and how the template wires it.

Lambda and CodeDeploy are botocore clients with a Stubber (moto's Lambda invoke needs Docker);
the version's answer is what the real handler answers for that version (testing/readiness.py),
so the hook reads the function's real result format.
"""

from __future__ import annotations

import ast
import io
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from hooks import pre_traffic
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, shared_session
from testing.harness import LambdaContext
from testing.readiness import VERSIONS, make_version, readiness_event
from tools import cfn
from tools.cfn import ACCOUNT, Stack

VERSION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:billing-portal-prod-Fn:7"
HOOK_EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "eyJleGVjIjoxfQ"}


def client(service: str, config: Config | None = None, endpoint_url: str | None = None) -> Any:
    return shared_session().create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
        endpoint_url=endpoint_url,
    )


def payload(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.fixture
def lambda_stub() -> Iterator[tuple[Any, Stubber]]:
    lambda_client = client("lambda")
    with Stubber(lambda_client) as stub:
        yield lambda_client, stub
        stub.assert_no_pending_responses()


def answers(stub: Stubber, environment: str, body: bytes, **extra: Any) -> None:
    """The version answers the hook's one invoke (of the version, with the readiness event)."""
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": payload(body), **extra},
        {"FunctionName": VERSION, "Payload": json.dumps(readiness_event(environment)).encode()},
    )


def hook_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == pre_traffic.logger.name]


# --- The hook reads the version's verdict -----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_the_hook_passes_a_ready_version_and_fails_each_broken_one_with_the_reason(
    version: str,
    dynamodb: Any,
    monkeypatch: pytest.MonkeyPatch,
    fake_stripe: FakeStripe,
    lambda_stub: tuple[Any, Stubber],
    caplog: pytest.LogCaptureFixture,
) -> None:
    environment = make_version(version, monkeypatch, fake_stripe)
    result = build_handler()(readiness_event(environment), LambdaContext())
    lambda_client, stub = lambda_stub
    answers(stub, environment, json.dumps(result).encode())
    caplog.clear()

    status = pre_traffic.judge(lambda_client, version=VERSION, environment=environment)

    log = hook_log(caplog)
    print(f"\n--- hook log, version {version!r}:", *log, sep="\n")
    checks = [line for line in log if line.startswith("check ")]
    assert len(checks) == len(result["checks"])
    if version == "ready":
        assert status == "Succeeded"
        assert log[-1] == "Succeeded: the new version is ready"
        assert all(": ok - " in line for line in checks)
    else:
        assert status == "Failed"
        [failure] = [c for c in result["checks"] if not c["ok"]]
        assert f"check {failure['name']}: FAILED - {failure['detail']}" in checks
        assert log[-1] == f"Failed: the new version is not ready ({failure['name']})"


@pytest.mark.parametrize(
    ("body", "extra", "reason"),
    [
        (
            b'{"errorMessage": "Task timed out after 10.00 seconds", '
            b'"errorType": "Sandbox.Timedout"}',
            {"FunctionError": "Unhandled"},
            "Failed: the new version failed (Unhandled): Sandbox.Timedout: Task timed out after "
            "10.00 seconds",
        ),
        (b"<html>", {}, "Failed: the new version's answer is not JSON"),
        # What a version without the check answers: an HTTP response, not a verdict.
        (
            b'{"statusCode": 404, "body": "{}"}',
            {},
            "Failed: the new version's answer is not a readiness result",
        ),
        (
            b'{"ready": "yes", "checks": []}',
            {},
            "Failed: the new version's answer is not a readiness result",
        ),
    ],
)
def test_a_version_that_fails_or_answers_nonsense_fails(
    lambda_stub: tuple[Any, Stubber],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    extra: dict[str, Any],
    reason: str,
) -> None:
    lambda_client, stub = lambda_stub
    answers(stub, "dev", body, **extra)

    assert pre_traffic.judge(lambda_client, version=VERSION, environment="dev") == "Failed"
    assert hook_log(caplog)[-1] == reason


def test_an_invoke_the_role_may_not_make_fails_with_lambdas_reason(
    lambda_stub: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    lambda_client, stub = lambda_stub
    stub.add_client_error("invoke", "AccessDeniedException", "not authorized", 403)

    assert pre_traffic.judge(lambda_client, version=VERSION, environment="prod") == "Failed"
    [reason] = [line for line in hook_log(caplog) if line.startswith("Failed")]
    assert "ClientError" in reason
    assert "AccessDeniedException" in reason


def test_a_version_that_never_answers_fails_when_the_hooks_read_timeout_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        lambda_client = client(
            "lambda",
            Config(read_timeout=0.3, retries={"total_max_attempts": 1}),
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
        )

        assert pre_traffic.judge(lambda_client, version=VERSION, environment="dev") == "Failed"

    [reason] = [line for line in hook_log(caplog) if line.startswith("Failed")]
    assert "ReadTimeoutError" in reason


# --- The handler reports to CodeDeploy, whatever happens --------------------------------------


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, Stubber]]:
    """The hook as deployed: its environment, and its two clients stubbed."""
    monkeypatch.setenv("NEW_VERSION", VERSION)
    monkeypatch.setenv("ENVIRONMENT_TYPE", "prod")
    lambda_client, codedeploy = client("lambda"), client("codedeploy")
    monkeypatch.setattr(pre_traffic, "CLIENTS", {"lambda": lambda_client, "codedeploy": codedeploy})
    with Stubber(lambda_client) as invoke, Stubber(codedeploy) as report:
        yield invoke, report
        invoke.assert_no_pending_responses()
        report.assert_no_pending_responses()


def reports(stub: Stubber, status: str) -> None:
    stub.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": HOOK_EVENT["LifecycleEventHookExecutionId"]},
        {
            "deploymentId": HOOK_EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": HOOK_EVENT["LifecycleEventHookExecutionId"],
            "status": status,
        },
    )


READY = {"ready": True, "checks": [{"name": "settings", "ok": True, "detail": "valid"}]}


def test_a_ready_version_is_reported_succeeded(deployed: tuple[Stubber, Stubber]) -> None:
    invoke, report = deployed
    answers(invoke, "prod", json.dumps(READY).encode())
    reports(report, "Succeeded")

    pre_traffic.lambda_handler(HOOK_EVENT, LambdaContext())


def test_a_not_ready_version_is_reported_failed(deployed: tuple[Stubber, Stubber]) -> None:
    invoke, report = deployed
    answers(invoke, "prod", json.dumps({**READY, "ready": False}).encode())
    reports(report, "Failed")

    pre_traffic.lambda_handler(HOOK_EVENT, LambdaContext())


def test_a_hook_without_its_version_still_reports_failed(
    deployed: tuple[Stubber, Stubber],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, report = deployed
    monkeypatch.delenv("NEW_VERSION")
    reports(report, "Failed")

    pre_traffic.lambda_handler(HOOK_EVENT, LambdaContext())

    assert hook_log(caplog) == [
        "Failed: the hook could not run the check (KeyError: 'NEW_VERSION')"
    ]


# --- The template wires it ----------------------------------------------------------------------


def test_the_alias_update_waits_for_the_hook_which_invokes_the_new_version() -> None:
    stack = Stack(EnvironmentType="prod")
    [alias] = [r for r in stack.resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    [version] = [n for n, r in stack.resources.items() if r["Type"] == "AWS::Lambda::Version"]
    hook = stack.resources["PreTrafficHookFunction"]["Properties"]

    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == "<PreTrafficHookFunction>"
    assert hook["Environment"]["Variables"] == {
        "NEW_VERSION": f"<{version}>",  # the version published now, never the alias
        "ENVIRONMENT_TYPE": "prod",
    }
    assert hook["Handler"] == "pre_traffic.lambda_handler"
    assert hook["Timeout"] > 2 * (5 + 30)  # two invokes at most (pre_traffic.INVOKE), then report
    assert pre_traffic.INVOKE.read_timeout == 30


def test_sams_codedeploy_role_may_invoke_the_hook_whatever_the_stack_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SAM's CodeDeploy role holds the managed AWSCodeDeployRoleForLambda, which may invoke
    # only functions named CodeDeployHook_*; a name holds at most 64 characters.
    stack = Stack()
    role = stack.resources["CodeDeployServiceRole"]["Properties"]
    assert [arn.rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]] == [
        "AWSCodeDeployRoleForLambda"
    ]
    longest = "s" * 128
    stack_id = (
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{longest}/"
        + "0" * 8
        + ("-0000" * 3)
        + "-"
        + "0" * 12
    )
    monkeypatch.setitem(cfn.PSEUDO, "AWS::StackName", longest)
    monkeypatch.setitem(cfn.PSEUDO, "AWS::StackId", stack_id)
    raw = stack.template["Resources"]["PreTrafficHookFunction"]["Properties"]["FunctionName"]

    name = stack.resolve(raw)

    assert name == "CodeDeployHook_billing_00000000-0000-0000-0000-000000000000"
    assert len(name) <= 64


def test_the_hooks_role_may_invoke_the_functions_versions_report_and_log_nothing_more() -> None:
    stack = Stack()
    role = stack.resources["PreTrafficHookRole"]["Properties"]
    [policy] = role["Policies"]

    assert stack.resources["PreTrafficHookFunction"]["Properties"]["Role"] == (
        "<PreTrafficHookRole.Arn>"
    )
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert "ManagedPolicyArns" not in role
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "<PreTrafficHookLogGroup.Arn>",
        },
        {
            "Sid": "InvokeNewVersion",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "<BillingPortalFunction.Arn>:*",
        },
        {
            "Sid": "ReportHookStatus",
            "Effect": "Allow",
            "Action": "codedeploy:PutLifecycleEventHookExecutionStatus",
            "Resource": f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:"
            "<ServerlessDeploymentApplication>/*",
        },
    ]


def test_the_hook_logs_to_its_own_group_with_the_stacks_retention() -> None:
    stack = Stack(LogRetentionDays="14")
    hook = stack.resources["PreTrafficHookFunction"]["Properties"]

    assert hook["LoggingConfig"] == {"LogGroup": "<PreTrafficHookLogGroup>", "LogFormat": "JSON"}
    assert stack.resources["PreTrafficHookLogGroup"]["Properties"] == {"RetentionInDays": "14"}


def test_the_hook_ships_alone_and_needs_only_what_the_runtime_has() -> None:
    tree = ast.parse(Path(pre_traffic.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        )
        if name
    }

    assert imported <= {*sys.stdlib_module_names, "boto3", "botocore"}, imported
    hook = cfn.template()["Resources"]["PreTrafficHookFunction"]
    assert hook["Properties"]["CodeUri"] == "hooks/"
    assert hook["Metadata"]["BuildMethod"] == "makefile"
