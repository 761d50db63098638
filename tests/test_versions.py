"""A deploy reaches traffic: the API invokes the alias "live", and SAM moves it only by publishing
a new version, whose logical id hashes the function's code and the literal text of its
properties (all of them: AutoPublishAliasAllProperties). Expanded as CloudFormation runs it
(AWS::LanguageExtensions, then SAM), each settings change and each edit of a property must yield a
new version id, and an unchanged deploy the same one.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tools.cfn import REQUIRED, Stack, expand, sam_template

# What the function's configuration reads from the parameters, one change each.
CHANGES = {
    "a role gate": {"BillingRoleClaim": "roles", "BillingRoles": "billing-admin"},
    "narrower origins": {"AllowedOrigins": "https://app.example.com"},
    "wider origins": {"AllowedOrigins": "https://app.example.com,https://admin.example.com"},
    "memory": {"MemorySize": "1769"},
    "SnapStart": {"SnapStart": "enabled"},
    "the key in Secrets Manager": {"StripeApiKeySecret": "billing-portal/prod/stripe"},
    "a renamed key parameter": {"StripeApiKeyParam": "/billing-portal/prod/other"},
    "a restored table": {"ExistingCustomersTable": "billing-portal-restored"},
    "in-function auth": {"AuthMode": "function"},
    "customer creation": {"CreateMissingCustomers": "true"},
}
BASE = {"AllowedOrigins": "https://app.example.com,https://billing.example.com"}


def version_id(**overrides: str) -> str:
    resources = Stack(**{**BASE, **overrides}).template["Resources"]
    [version] = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Version"]
    return version


def test_two_identical_deploys_publish_no_new_version() -> None:
    assert version_id() == version_id()
    assert version_id(**CHANGES["a role gate"]) == version_id(**CHANGES["a role gate"])


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_a_deploy_that_changes_only_settings_publishes_a_version_the_alias_moves_to(
    change: str,
) -> None:
    before, after = version_id(), version_id(**CHANGES[change])
    assert before != after
    stack = Stack(**{**BASE, **CHANGES[change]})
    alias = stack.resources["BillingPortalFunctionAliaslive"]["Properties"]
    assert alias["FunctionVersion"] == f"<{after}.Version>"


def test_the_live_version_carries_the_settings_it_was_deployed_with() -> None:
    settings = Stack(**CHANGES["a role gate"], AuthMode="function").settings()

    assert settings["BILLING_ROLES"] == "billing-admin"
    assert settings["BILLING_ROLE_CLAIM"] == "roles"
    assert settings["AUTH_JWT_AUDIENCE"] == "app-client"
    assert settings["MEMORY_SIZE"] == "1024"


# Edits to template.yaml itself: with AutoPublishAliasAllProperties, every property's text counts.
EDITS = {
    "a longer timeout": ("Timeout", 20),
    "no tracing": ("Tracing", "PassThrough"),
    "another handler": ("Handler", "billing_portal.app.other_handler"),
    "another runtime": ("Runtime", "python3.12"),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_an_edit_to_any_property_of_the_function_publishes_a_version(edit: str) -> None:
    name, value = EDITS[edit]
    edited = copy.deepcopy(sam_template())
    edited["Resources"]["BillingPortalFunction"]["Properties"][name] = value

    [after] = [
        logical
        for logical, r in expand(edited, REQUIRED)["Resources"].items()
        if r["Type"] == "AWS::Lambda::Version"
    ]

    assert after != version_id(AllowedOrigins=REQUIRED["AllowedOrigins"])


# --- Every parameter a version depends on is in BILLING_PORTAL_SETTINGS ------------------------

# Properties whose parameters need not publish: concurrency is the function's, not a version's;
# the rollout is how a version takes traffic, not what it runs.
UNVERSIONED = ("ReservedConcurrentExecutions", "Role", "DeploymentPreference")


def parameters_read(value: Any, template: dict[str, Any]) -> set[str]:
    """The parameters a piece of template depends on: Refs, ${Names} in Subs, and those behind
    the conditions of its Fn::Ifs."""
    names: set[str] = set()
    if isinstance(value, list):
        for item in value:
            names |= parameters_read(item, template)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and arg in template["Parameters"]:
                names.add(arg)
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found = re.findall(r"\$\{([^}!.]+)\}", text)
                names |= {name for name in found if name in template["Parameters"]}
                names |= parameters_read(arg[1:] if isinstance(arg, list) else [], template)
            elif key in ("Fn::If", "Condition"):
                condition = arg[0] if key == "Fn::If" else arg
                names |= parameters_read(template["Conditions"][condition], template)
                names |= parameters_read(arg[1:] if key == "Fn::If" else [], template)
            else:
                names |= parameters_read(arg, template)
    return names


def test_every_parameter_a_version_depends_on_is_in_the_settings_bundle() -> None:
    template = sam_template()
    function = dict(template["Resources"]["BillingPortalFunction"]["Properties"])
    variables = dict(function.pop("Environment")["Variables"])
    bundled = parameters_read(variables.pop("BILLING_PORTAL_SETTINGS"), template)
    for name in UNVERSIONED:
        function.pop(name, None)

    read = parameters_read([function, variables], template)

    assert read - bundled == set(), "add these to BILLING_PORTAL_SETTINGS in template.yaml"


def test_the_check_above_sees_a_parameter_behind_a_condition() -> None:
    template = sam_template()
    variables = template["Resources"]["BillingPortalFunction"]["Properties"]["Environment"]
    bundle = variables["Variables"]["BILLING_PORTAL_SETTINGS"]["Fn::ToJsonString"]
    read = parameters_read(bundle["AUTH_JWT_ISSUER"], template)
    assert read == {"AuthMode", "JwtIssuer"}


@pytest.mark.parametrize("snapstart", ["enabled", "disabled"])
def test_the_api_invokes_the_published_alias_which_snapstart_applies_to(snapstart: str) -> None:
    stack = Stack(SnapStart=snapstart)
    resources = stack.resources
    [alias] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    function = resources["BillingPortalFunction"]["Properties"]
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]

    assert alias["Properties"]["Name"] == "live"
    assert {p["Properties"]["FunctionName"] for p in permissions} == {
        "<BillingPortalFunctionAliaslive>"
    }
    if snapstart == "enabled":
        assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    else:
        assert "SnapStart" not in function
