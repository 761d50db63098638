"""What operators see of a deployed stack: one JSON access-log line per request (never its
headers), both log groups' retention, the dashboard, and the salt of the function's log
pseudonyms (a generated secret)."""

from __future__ import annotations

import json
import re

from tools.cfn import ACCOUNT, STACK, Stack


def test_access_logs_are_one_json_object_per_request_with_the_authorizers_error() -> None:
    stage = Stack().resources["BillingApiApiGatewayDefaultStage"]["Properties"]
    settings = stage["AccessLogSettings"]
    # What API Gateway writes: each $context variable replaced by its value, "-" when it has none.
    line = re.sub(r"\$context\.[A-Za-z.]+", "-", settings["Format"])

    fields = json.loads(line)
    assert {
        "requestId",
        "status",
        "responseLatency",
        "authorizerError",
        "integrationError",
    } <= set(fields)
    assert settings["DestinationArn"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:<ApiAccessLogGroup>"
    )
    # Never the headers: they carry bearer tokens and session cookies.
    assert "header" not in settings["Format"]


def test_both_log_groups_keep_logs_for_the_retention_chosen() -> None:
    resources = Stack(LogRetentionDays="90").resources

    for name in ("BillingPortalLogGroup", "ApiAccessLogGroup"):
        assert resources[name]["Properties"]["RetentionInDays"] == "90"


def test_the_dashboard_shows_this_stacks_function_api_and_metrics() -> None:
    stack = Stack()
    body = json.loads(stack.resources["Dashboard"]["Properties"]["DashboardBody"])
    text = json.dumps(body)

    assert "<BillingPortalFunction>" in text
    assert "<BillingApi>" in text
    assert f'\\"BillingPortal/{STACK}\\"' in text
    assert "SOURCE '<ApiAccessLogGroup>'" in text
    assert "SOURCE '<BillingPortalLogGroup>'" in text
    assert {"FunctionLogGroup", "ApiAccessLogGroupName", "DashboardName", "DashboardUrl"} <= set(
        stack.outputs
    )


def test_the_log_salt_is_a_generated_secret_not_the_stack_id() -> None:
    stack = Stack()
    salt = stack.environment()["USER_HASH_SALT"]
    assert salt == "{{resolve:secretsmanager:<UserHashSalt>:SecretString}}"
    secret = stack.resources["UserHashSalt"]["Properties"]["GenerateSecretString"]
    assert secret["PasswordLength"] >= 32
