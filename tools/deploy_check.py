"""The post-deploy check of tools.deploy: does traffic reach exactly what was just deployed?

Four things can leave it elsewhere, and each is read from AWS, not inferred:
- the alias `live` is weighted (a canary in progress, or one CodeDeploy left half-way): some
  requests run another version;
- the alias's version differs from the function as deployed ($LATEST) in any property: a change
  that published no version (AutoPublishAlias publishes on what SAM hashes, not on everything);
- the stack holds other parameter values than the ones this run gave (a bare `sam deploy`, a
  console edit);
- the API's integration invokes something other than the alias (the function itself, an old
  version).
Everything it prints goes through `shown`: a salt, a secret or a Stripe key is never printed.
"""

from __future__ import annotations

import json
import re
from typing import Any

ALIAS = "live"
# The one variable the template puts the parameter-derived settings in (a JSON object by their
# contract names): compared member by member, so a difference names the setting.
SETTINGS_VARIABLE = "BILLING_PORTAL_SETTINGS"
# Fields of GetFunctionConfiguration that differ between a version and $LATEST by nature.
BY_NATURE = frozenset(
    {
        "Version",
        "FunctionArn",
        "LastModified",
        "RevisionId",
        "State",
        "StateReason",
        "StateReasonCode",
        "LastUpdateStatus",
        "LastUpdateStatusReason",
        "LastUpdateStatusReasonCode",
        "ResponseMetadata",
        # Under the runtime's automatic updates, $LATEST may already run a newer patch release.
        "RuntimeVersionConfig",
    }
)
# Names whose values are secrets or say where one is; values that look like a Stripe key.
_SECRET_NAME = re.compile(r"SALT|SECRET|KEY", re.IGNORECASE)
_STRIPE_KEY = re.compile(r"\b[sr]k_(live|test)_")
HIDDEN = "changed (value hidden)"


def is_secret(name: str, *values: Any) -> bool:
    return bool(_SECRET_NAME.search(name)) or any(_STRIPE_KEY.search(str(v)) for v in values)


def shown(name: str, live: Any, deployed: Any, *, live_word: str = "live") -> str:
    """One difference as printed: the two values, or that it changed when either is secret."""
    if is_secret(name, live, deployed):
        return f"{name}: {HIDDEN}"
    return f"{name}: {live_word} {live!r}, deployed {deployed!r}"


def routing_problems(alias: dict[str, Any]) -> list[str]:
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    if not weights:
        return []
    others = ", ".join(f"version {v} takes {w:.0%}" for v, w in sorted(weights.items()))
    return [
        f"alias {ALIAS}: weighted, not as deployed: {others} beside version "
        f"{alias['FunctionVersion']} (a canary in progress, or one left half-way)"
    ]


def settings_of(configuration: dict[str, Any]) -> dict[str, str]:
    """A version's environment, the settings object's members as variables of their own (the
    function merges them under the individual variables the same way)."""
    variables = dict(configuration.get("Environment", {}).get("Variables", {}))
    raw = variables.pop(SETTINGS_VARIABLE, None)
    merged: dict[str, str] = {}
    if raw:
        try:
            members = json.loads(raw)
        except json.JSONDecodeError:
            members = {SETTINGS_VARIABLE: raw}
        merged.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in members.items()})
    # As settings.py reads them: a variable of its own wins over the member when it is set.
    for name, value in variables.items():
        if value or name not in merged:
            merged[name] = value
    return merged


def configuration_differences(live: dict[str, Any], deployed: dict[str, Any]) -> list[str]:
    """Every property in which the alias's version differs from $LATEST, environment variable by
    variable."""
    found = []
    for name in sorted((set(live) | set(deployed)) - BY_NATURE - {"Environment", "SnapStart"}):
        if live.get(name) != deployed.get(name):
            found.append(shown(name, live.get(name), deployed.get(name)))
    # OptimizationStatus is On for a published version, Off for $LATEST, by nature.
    snapstart = [c.get("SnapStart", {}).get("ApplyOn", "None") for c in (live, deployed)]
    if snapstart[0] != snapstart[1]:
        found.append(shown("SnapStart", *snapstart))
    live_env, deployed_env = settings_of(live), settings_of(deployed)
    for name in sorted(set(live_env) | set(deployed_env)):
        if live_env.get(name) != deployed_env.get(name):
            found.append(shown(name, live_env.get(name), deployed_env.get(name)))
    return found


def parameter_differences(
    stack: dict[str, Any], values: dict[str, str], unknown: frozenset[str] = frozenset()
) -> list[str]:
    """Each parameter the stack holds that is not the value given now (`unknown`: parameters
    whose value this run did not work out). NoEcho parameters read "****": not comparable."""
    found = []
    for parameter in sorted(stack.get("Parameters", []), key=lambda p: p["ParameterKey"]):
        name, value = parameter["ParameterKey"], parameter.get("ParameterValue", "")
        if name not in values or name in unknown or value == "****":
            continue
        if value != values[name]:
            found.append(shown(f"parameter {name}", value, values[name], live_word="stack"))
    return found


def integration_problems(integrations: list[dict[str, Any]], alias_arn: str) -> list[str]:
    """Each Lambda integration of the API that does not invoke the alias. SAM writes the URI in
    API Gateway's path form (.../functions/<arn>/invocations); a bare ARN is read as well."""
    found = []
    for integration in integrations:
        uri = integration.get("IntegrationUri", "")
        if ":lambda:" not in uri:
            continue  # not a Lambda integration
        target = (
            uri.split("/functions/", 1)[1].removesuffix("/invocations")
            if "/functions/" in uri
            else uri
        )
        if target != alias_arn:
            found.append(
                f"API integration {integration.get('IntegrationId')}: invokes {target}, "
                f"not the alias {ALIAS} ({alias_arn})"
            )
    if not any(":lambda:" in i.get("IntegrationUri", "") for i in integrations):
        found.append(f"API: no integration invokes the alias {ALIAS} ({alias_arn})")
    return found


def check(
    clients: dict[str, Any],
    stack_name: str,
    function: str,
    api_id: str | None,
    values: dict[str, str],
    unknown: frozenset[str] = frozenset(),
) -> tuple[int, list[str]]:
    """The version the alias `live` points at, and every way traffic does not reach what was
    just deployed (empty when none)."""
    lambda_client = clients["lambda"]
    alias = lambda_client.get_alias(FunctionName=function, Name=ALIAS)
    version = alias["FunctionVersion"]
    live = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
    deployed = lambda_client.get_function_configuration(FunctionName=function)
    [stack] = clients["cloudformation"].describe_stacks(StackName=stack_name)["Stacks"]
    found = routing_problems(alias)
    found += configuration_differences(live, deployed)
    found += parameter_differences(stack, values, unknown)
    if api_id is not None:
        integrations, token = [], None
        while True:  # GetIntegrations pages by NextToken; boto3 has no paginator for it
            page = clients["apigatewayv2"].get_integrations(
                ApiId=api_id, **({"NextToken": token} if token else {})
            )
            integrations += page.get("Items", [])
            token = page.get("NextToken")
            if not token:
                break
        found += integration_problems(integrations, alias["AliasArn"])
    return int(version), found


def readiness_problems(lambda_client: Any, function: str, live_key: bool) -> list[str]:
    """The readiness check (handler/billing_portal/readiness.py) invoked through the alias: each
    failed check, named. The PreTraffic hook runs it on every new version, but a stack's first
    deploy creates the alias without CodeDeploy, so nothing else judged that version."""
    event = {"readiness": {"live_key": live_key}}
    response = lambda_client.invoke(
        FunctionName=function, Qualifier=ALIAS, Payload=json.dumps(event).encode()
    )
    body = response["Payload"].read()
    if response.get("FunctionError"):
        return [f"readiness: the function failed ({response['FunctionError']})"]
    try:
        answer = json.loads(body)
        ready, checks = bool(answer["ready"]), list(answer["checks"])
    except (ValueError, KeyError, TypeError):
        return ["readiness: the function did not answer the readiness check"]
    if ready:
        return []
    failed = [c for c in checks if isinstance(c, dict) and not c.get("ok")]
    return [f"readiness: {c.get('name')} failed: {c.get('detail')}" for c in failed] or [
        "readiness: not ready"
    ]


def unconfirmed_subscriptions(sns: Any, topic: str) -> list[str]:
    """The endpoints (email addresses) subscribed to the topic that never confirmed: AWS delivers
    nothing to them until someone opens the link in its email."""
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
    return [
        s["Endpoint"]
        for page in pages
        for s in page["Subscriptions"]
        if s["SubscriptionArn"] == "PendingConfirmation"
    ]
