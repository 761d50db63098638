"""Alarms that mean something and reach a person: each alarm notifies a topic (the stack's own,
encrypted, or yours), the refusal alarm counts the function's own answers (its metric filters
are matched against the real handler's log lines), and a canary rolls back on them."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from typing import Any

import pytest

from testing.events import event
from testing.handler import Handler, build_handler
from testing.harness import LambdaContext
from tools.cfn import ACCOUNT, STACK, Stack

OPS_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"
TICKETS_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:tickets"
# What pages: users cannot open the portal. PageAlarm pages for them, once per incident.
PAGED = ("Api5xxAlarm", "MisconfigurationsAlarm")
# What opens a ticket: needs a look, not a person now.
TICKETS = (
    "FunctionErrorsAlarm",
    "FunctionThrottlesAlarm",
    "RefusalsAlarm",
    "UnhandledErrorsAlarm",
    "ApiLatencyAlarm",
)


def alarms(stack: Stack, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {name: stack.resources[name]["Properties"] for name in names}


def test_one_alarm_pages_for_what_users_meet_and_the_rest_open_tickets() -> None:
    stack = Stack(AlarmTopicArn=OPS_TOPIC, TicketTopicArn=TICKETS_TOPIC)
    page = stack.resources["PageAlarm"]["Properties"]

    assert page["AlarmRule"] == 'ALARM("<MisconfigurationsAlarm>") OR ALARM("<Api5xxAlarm>")'
    assert page["AlarmActions"] == page["OKActions"] == [OPS_TOPIC]
    for name, alarm in alarms(stack, PAGED).items():
        # One incident, one page: the parts notify nobody themselves.
        assert "AlarmActions" not in alarm and "OKActions" not in alarm, name
    for name, alarm in alarms(stack, TICKETS).items():
        # A ticket stays open until closed: no all-clear message.
        assert alarm["AlarmActions"] == [TICKETS_TOPIC] and "OKActions" not in alarm, name
    assert not {"AlarmTopic", "AlarmTopicKey", "AlarmEmailSubscription"} & set(stack.resources)


def test_every_alarm_notifies_the_stacks_own_encrypted_topic_by_default() -> None:
    stack = Stack(AlarmEmail="oncall@example.com")
    page = stack.resources["PageAlarm"]["Properties"]
    assert page["AlarmActions"] == page["OKActions"] == ["<AlarmTopic>"]
    for name, alarm in alarms(stack, TICKETS).items():
        assert alarm["AlarmActions"] == ["<AlarmTopic>"], name
    topic = stack.resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "<AlarmTopicKey.Arn>"
    subscription = stack.resources["AlarmEmailSubscription"]["Properties"]
    assert subscription == {
        "TopicArn": "<AlarmTopic>",
        "Protocol": "email",
        "Endpoint": "oncall@example.com",
    }
    # CloudWatch publishes to an encrypted topic only with the key's leave.
    [grant] = [
        s
        for s in stack.resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert grant["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_a_paging_topic_of_yours_leaves_the_tickets_to_the_stacks_own() -> None:
    stack = Stack(AlarmTopicArn=OPS_TOPIC, AlarmEmail="tickets@example.com")

    assert stack.resources["PageAlarm"]["Properties"]["AlarmActions"] == [OPS_TOPIC]
    for alarm in alarms(stack, TICKETS).values():
        assert alarm["AlarmActions"] == ["<AlarmTopic>"]
    assert stack.resources["AlarmEmailSubscription"]["Properties"]["TopicArn"] == "<AlarmTopic>"


def test_a_failure_pages_when_it_persists_or_stops_everyone() -> None:
    stack = Stack()
    api5xx = stack.resources["Api5xxAlarm"]["Properties"]
    misconfigured = stack.resources["MisconfigurationsAlarm"]["Properties"]

    # One 5xx is a passing fault its user retries; three within 15 minutes is an outage.
    assert (api5xx["Threshold"], api5xx["Period"], api5xx["EvaluationPeriods"]) == (3, 900, 1)
    # A misconfiguration fails every click until someone acts: the first one pages.
    assert (misconfigured["Threshold"], misconfigured["Period"]) == (1, 300)


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"EnvironmentType": "prod"}, True),
        ({"EnvironmentType": "prod", "AlarmEmail": "oncall@example.com"}, False),
        ({"EnvironmentType": "prod", "AlarmTopicArn": OPS_TOPIC}, False),
        ({"EnvironmentType": "dev"}, False),
    ],
)
def test_production_is_refused_until_alarms_reach_a_person(
    overrides: dict[str, str], refused: bool
) -> None:
    failures = Stack(**overrides).rule_failures()
    assert failures == (["ProdAlarmsReachAPerson"] if refused else [])


def test_a_canary_takes_the_alias_and_rolls_back_on_the_new_versions_own_alarms() -> None:
    stack = Stack()
    group = stack.resources["BillingPortalFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    watched = {a["Name"] for a in group["AlarmConfiguration"]["Alarms"]}
    assert watched == {"<CanaryErrorsAlarm>", "<CanaryFailuresAlarm>"}
    alias = stack.template["Resources"]["BillingPortalFunctionAliaslive"]
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]
    dev = Stack(DeploymentType="CodeDeployDefault.LambdaAllAtOnce")
    group = dev.resources["BillingPortalFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_the_gates_watch_the_version_being_rolled_out_not_the_whole_api() -> None:
    stack = Stack()
    [version] = [n for n, r in stack.resources.items() if r["Type"] == "AWS::Lambda::Version"]
    errors = stack.resources["CanaryErrorsAlarm"]["Properties"]
    failures = stack.resources["CanaryFailuresAlarm"]["Properties"]
    by_version = stack.resources["FailedAnswersMetricFilter"]["Properties"]

    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {
        "FunctionName": "<BillingPortalFunction>",
        "Resource": "<BillingPortalFunction>:live",
        "ExecutedVersion": f"<{version}.Version>",
    }
    assert failures["Dimensions"] == [{"Name": "version", "Value": f"<{version}.Version>"}]
    [metric] = by_version["MetricTransformations"]
    assert metric["Dimensions"] == [{"Key": "version", "Value": "$.version"}]
    assert (metric["MetricName"], metric["MetricNamespace"]) == (
        failures["MetricName"],
        failures["Namespace"],
    )
    line = {"message": "request", "status": 503, "version": "7"}
    assert matches(by_version["FilterPattern"], line)
    assert not matches(by_version["FilterPattern"], {**line, "status": 404})
    assert "ApiId" not in str(errors) + str(failures)


def test_latency_of_a_handful_of_requests_does_not_page() -> None:
    latency = Stack().resources["ApiLatencyAlarm"]["Properties"]
    assert latency["EvaluateLowSampleCountPercentile"] == "ignore"
    assert latency["ExtendedStatistic"] == "p90"


def test_lambdas_own_log_lines_are_json_too() -> None:
    function = Stack().resources["BillingPortalFunction"]["Properties"]
    assert function["LoggingConfig"] == {"LogGroup": "<BillingPortalLogGroup>", "LogFormat": "JSON"}


# --- The refusal alarm counts the function's own answers --------------------------------------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}


def matches(pattern: str, line: dict[str, Any]) -> bool:
    """CloudWatch Logs' JSON filter pattern, for the conjunctions our metric filters use:
    `{ $.a = "x" && $.b >= 400 && $.c = * }`."""
    body = pattern.strip().removeprefix("{").removesuffix("}")
    for term in body.split("&&"):
        found = re.fullmatch(r'\s*\$\.(\w+)\s*(=|!=|>=|<=)\s*("[^"]*"|\*|-?\d+)\s*', term)
        assert found, f"not understood here: {term!r}"
        name, op, value = found.groups()
        if name not in line:
            return False
        if value == "*":
            continue
        if value.startswith('"'):
            if not COMPARE[op](str(line[name]), value.strip('"')):
                return False
        elif not isinstance(line[name], int | float) or not COMPARE[op](line[name], int(value)):
            return False
    return True


def filter_pattern(stack: Stack, metric: str) -> str:
    [pattern] = [
        r["Properties"]["FilterPattern"]
        for r in stack.resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
        and r["Properties"]["MetricTransformations"][0]["MetricName"] == metric
    ]
    return pattern


def test_the_refusal_alarm_reads_the_functions_answers_not_the_stages_4xx() -> None:
    stack = Stack()
    alarm = stack.resources["RefusalsAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert metrics["rate"]["Expression"] == "IF(answers >= 10, 100 * refusals / answers, 0)"
    for metric_id, name in (("refusals", "Refusals"), ("answers", "Answers")):
        stat = metrics[metric_id]["MetricStat"]["Metric"]
        assert stat == {"Namespace": "BillingPortal/billing-portal-prod", "MetricName": name}
    for resource in stack.resources.values():
        if resource["Type"] == "AWS::Logs::MetricFilter":
            assert resource["Properties"]["LogGroupName"] == "<BillingPortalLogGroup>"
    assert "Api4xxAlarm" not in stack.resources


def request_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capfd.readouterr().out
    return [json.loads(x) for x in out.splitlines() if '"message":"request"' in x]


@pytest.mark.parametrize(
    ("name", "changes", "status", "counted", "refusal"),
    [
        ("home", {}, 303, True, False),
        ("home", {"claims": {"sub": "never-linked"}}, 404, True, True),
        ("home", {"query": "return_url=https://evil.example/"}, 400, True, True),
        # Answered before anyone was authenticated: never counted, so anonymous requests
        # cannot fire the alarm.
        ("no-identity", {}, 401, False, False),
        ("home", {"method": "PUT"}, 405, False, False),
    ],
    ids=["portal", "no billing account", "foreign return_url", "no identity", "other method"],
)
def test_the_metric_filters_count_what_the_function_really_logs(
    handler: Handler,
    customer: str,
    capfd: pytest.CaptureFixture[str],
    name: str,
    changes: dict[str, Any],
    status: int,
    counted: bool,
    refusal: bool,
) -> None:
    stack = Stack()
    capfd.readouterr()
    response = handler(event(name, **changes), LambdaContext())
    assert response["statusCode"] == status
    [line] = request_lines(capfd)
    assert matches(filter_pattern(stack, "Answers"), line) is counted
    assert matches(filter_pattern(stack, "Refusals"), line) is refusal


def test_metrics_and_the_alarm_on_them_belong_to_one_stack() -> None:
    # Two stacks in one account must never fire each other's alarms.
    stack = Stack()
    environment = stack.settings()
    alarm = stack.resources["MisconfigurationsAlarm"]["Properties"]

    assert environment["POWERTOOLS_SERVICE_NAME"] == STACK
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == f"BillingPortal/{STACK}"
    assert alarm["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": STACK}]


def test_a_5xx_answer_is_counted_for_the_version_that_gave_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A version whose settings are broken (its table unset) answers every click with a 500.
    monkeypatch.delenv("CUSTOMERS_TABLE", raising=False)
    handler = build_handler()
    capfd.readouterr()

    response = handler(event("home"), LambdaContext(function_version="7"))

    assert response["statusCode"] == 500
    [line] = request_lines(capfd)
    assert line["version"] == "7"
    assert matches(filter_pattern(Stack(), "FailedAnswers"), line)
