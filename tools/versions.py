"""The function's published versions as tools.deploy keeps them: the live one, and the last one
that served well (the rollback target), which the alias `fallback` records.

Why an alias: the version that served before a deploy is known only before that deploy (the
alias `live`, read then). After a canary that CodeDeploy rolled back, the numerically previous
version is the failed one; a later run cannot tell them apart from the numbers. The alias
`fallback` is kept by tools.deploy alone (the API never invokes it), so the next run, or an
operator at 3 a.m., reads the rollback target from Lambda itself; and Lambda refuses to delete a
version an alias points at, so no hand-run cleanup removes it by mistake.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

LIVE = "live"
FALLBACK = "fallback"


def alias_version(lambda_client: Any, function: str, alias: str) -> str | None:
    """The version the alias points at, None when there is no such alias (a first deploy). A
    weighted alias names its main version: the one that served most requests."""
    try:
        found: str = lambda_client.get_alias(FunctionName=function, Name=alias)["FunctionVersion"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return found


def settings(lambda_client: Any, function: str, qualifier: str) -> dict[str, str]:
    """A version's settings (its environment, the settings object's members included)."""
    from tools.deploy_check import settings_of

    return settings_of(
        lambda_client.get_function_configuration(FunctionName=function, Qualifier=qualifier)
    )


def published(lambda_client: Any, function: str) -> list[str]:
    pages = lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    numbers = sorted(
        int(v["Version"]) for page in pages for v in page["Versions"] if v["Version"].isdigit()
    )
    return [str(n) for n in numbers]


def keep(
    lambda_client: Any, function: str, live: str, served: str | None
) -> tuple[str | None, list[str]]:
    """After a deploy: the rollback target is the version that served before it (`served`), when
    traffic moved off it; else (an unchanged deploy, a rolled-back canary) the recorded one
    stays. The alias `fallback` is moved to it, and every other version but the live one is
    deleted (with SnapStart each keeps a billed snapshot). (rollback target, versions deleted)."""
    recorded = alias_version(lambda_client, function, FALLBACK)
    target = served if served is not None and served != live else recorded
    if target == live:
        target = None
    if target is not None and target != recorded:
        if recorded is None:
            lambda_client.create_alias(FunctionName=function, Name=FALLBACK, FunctionVersion=target)
        else:
            lambda_client.update_alias(FunctionName=function, Name=FALLBACK, FunctionVersion=target)
    deleted = [v for v in published(lambda_client, function) if v not in {live, target}]
    for version in deleted:
        lambda_client.delete_function(FunctionName=function, Qualifier=version)
    return target, deleted


def inactive(lambda_client: Any, function: str, version: str) -> bool:
    """Lambda deletes the SnapStart snapshot of a version not invoked for 14 days: the version
    is then Inactive, and invoking it fails until Lambda has made a new snapshot."""
    configuration = lambda_client.get_function_configuration(
        FunctionName=function, Qualifier=version
    )
    return bool(configuration.get("State") == "Inactive")
