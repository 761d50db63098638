"""CodeDeploy's PreTraffic hook: the new version is judged before the alias sends it any click.

CodeDeploy calls this function with `{DeploymentId, LifecycleEventHookExecutionId}` before it
shifts traffic. It invokes the NEW version directly (NEW_VERSION, the version's ARN: the alias
still points at the old one) with `{"readiness": {"live_key": ...}}`, logs each check the
version reports (billing_portal/readiness.py), and reports Succeeded only when the version says
it is ready. Anything else (the invoke refused or timed out, the function failed, an answer that
is not a readiness result) is Failed, with the reason in this function's log; CodeDeploy then
stops the deployment and CloudFormation rolls the stack back.

A file of its own, deployed alone (template.yaml: PreTrafficHookFunction): it needs boto3,
which the Lambda runtime has, and nothing of the function's package.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
from botocore.config import Config

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

# The function's Timeout is 10 s, and a cold start (or a SnapStart restore) comes first: 30 s
# to answer, and one retry of a throttled or failed call, stays under this function's own
# Timeout (template.yaml), so the status is always reported: a hook that never reports leaves
# CodeDeploy waiting an hour before it fails the deployment.
INVOKE = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 2})
# What a failure's reason may quote of the function's own error message.
MESSAGE_MAX = 300


class NotReady(Exception):
    """Why the new version may not take traffic, one line for the log."""


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    try:
        status = judge(
            client("lambda"),
            version=os.environ["NEW_VERSION"],
            environment=os.environ.get("ENVIRONMENT_TYPE", ""),
        )
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, CodeDeploy must hear Failed
        logger.error(f"Failed: the hook could not run the check ({type(exc).__name__}: {exc})")
        status = "Failed"
    client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )


def judge(client: Any, *, version: str, environment: str) -> str:
    """ "Succeeded" when the version reports ready, else "Failed"; each check and any reason
    are logged, one line each."""
    logger.info(f"Checking {version} before it takes traffic (environment {environment})")
    try:
        result = _readiness(client, version, expect_live=environment == "prod")
    except NotReady as exc:
        logger.error(f"Failed: {exc}")
        return "Failed"
    except Exception as exc:  # noqa: BLE001 - any failure must still report Failed
        logger.error(f"Failed: the check did not complete ({type(exc).__name__}: {exc})")
        return "Failed"
    for check in result["checks"]:
        verdict = "ok" if check["ok"] is True else "FAILED"
        logger.info(f"check {check['name']}: {verdict} - {check['detail']}")
    if result["ready"] is not True:
        failed = ", ".join(c["name"] for c in result["checks"] if c["ok"] is not True)
        logger.error(f"Failed: the new version is not ready ({failed})")
        return "Failed"
    logger.info("Succeeded: the new version is ready")
    return "Succeeded"


def _readiness(client: Any, version: str, *, expect_live: bool) -> dict[str, Any]:
    # Prod needs a live key; any other environment a test key, so a dev stack never charges
    # real cards.
    payload = json.dumps({"readiness": {"live_key": expect_live}})
    answer = client.invoke(FunctionName=version, Payload=payload.encode())
    body = answer["Payload"].read()
    if answer.get("FunctionError"):
        raise NotReady(f"the new version failed ({answer['FunctionError']}): {_error(body)}")
    try:
        result = json.loads(body)
    except ValueError:
        raise NotReady("the new version's answer is not JSON") from None
    if not _is_result(result):
        raise NotReady("the new version's answer is not a readiness result")
    return dict(result)


def _is_result(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("ready"), bool)
        and isinstance(value.get("checks"), list)
        and all(
            isinstance(check, dict) and {"name", "ok", "detail"} <= set(check)
            for check in value["checks"]
        )
    )


def _error(body: bytes) -> str:
    """Lambda's error object: its type and message (cut short), never the stack trace."""
    try:
        error = json.loads(body)
        text = f"{error.get('errorType', 'error')}: {error.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        text = "no error object"
    return text[:MESSAGE_MAX]


# The container's clients, built on first use.
CLIENTS: dict[str, Any] = {}
CONFIGS = {"lambda": INVOKE}


def client(service: str) -> Any:
    if service not in CLIENTS:
        CLIENTS[service] = boto3.client(service, config=CONFIGS.get(service))  # type: ignore[call-overload]
    return CLIENTS[service]
