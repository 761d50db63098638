"""CloudFormation, played offline: the template expanded as a deploy would expand it, and a
small evaluator that decides conditions and resolves intrinsics, so a test (or tools.deploy, before
it deploys) reads the resources a real stack would get.

A deploy runs two transforms in turn: AWS::LanguageExtensions, which turns `Fn::ToJsonString`
into a literal string, then the SAM transform (samtranslator, here in-process). Only that one
function of the first is played here: it is the one the template relies on.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
STACK = "billing-portal-prod"
ACCOUNT = "123456789012"
REQUIRED = {
    "JwtIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
    "JwtAudience": "app-client",
    "AllowedOrigins": "https://app.example.com",
    "DefaultReturnUrl": "https://app.example.com/settings",
}
# --- CloudFormation, played offline ---------------------------------------------------------

NO_VALUE = object()
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK,
    "AWS::StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/5b2c1e0a-0000",
    "AWS::NoValue": NO_VALUE,
}


class _NoManagedPolicies:
    """The template names no managed policies, so the transform never needs IAM's list."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def template() -> dict[str, Any]:
    """template.yaml as written, read as CloudFormation reads it (samtranslator's reader: `!Ref
    X` is {"Ref": "X"}, `!If [...]` is {"Fn::If": [...]}). The one way the tests, local/ and
    bench/ read it; shared, so never changed in place."""
    data: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return data


@cache
def sam_template() -> dict[str, Any]:
    """The template as `sam package` leaves it, for the transform."""
    packaged = copy.deepcopy(template())
    # `sam package` puts each function's built code in S3; the transform wants such a URI.
    for name, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://bucket/{name}.zip"
    return packaged


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Every parameter's value in a deploy given these: the given one, else its default; a
    CommaDelimitedList as a list, as CloudFormation's Ref returns it."""
    values: dict[str, Any] = {}
    for name, spec in template["Parameters"].items():
        value = given.get(name, spec.get("Default"))
        if value is not None:
            # Parameter values are strings, whatever the Type (a Number's default too).
            value = str(value).split(",") if spec["Type"] == "CommaDelimitedList" else str(value)
        values[name] = value
    return values


def language_extensions(template: Any, values: dict[str, Any]) -> Any:
    """AWS::LanguageExtensions' `Fn::ToJsonString`: the object, its parameter Refs resolved, as
    a literal JSON string (CloudFormation's documented result). A Ref it cannot resolve before
    the deploy (another resource, an unset parameter) is an error here, not a silent pass."""
    if isinstance(template, list):
        return [language_extensions(item, values) for item in template]
    if not isinstance(template, dict):
        return template
    if list(template) == ["Fn::ToJsonString"]:
        return json.dumps(
            _parameters_only(template["Fn::ToJsonString"], values), separators=(",", ":")
        )
    return {key: language_extensions(item, values) for key, item in template.items()}


def _parameters_only(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_parameters_only(item, values) for item in value]
    if isinstance(value, dict):
        if list(value) == ["Ref"]:
            name = value["Ref"]
            if values.get(name) is None:
                raise ValueError(f"Fn::ToJsonString: {name} is not a parameter with a value")
            return values[name]
        return {key: _parameters_only(item, values) for key, item in value.items()}
    return value


@cache
def _expanded(params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    # Imported here: the transform takes seconds to import, and local/ and bench/ read the
    # template (testing/harness.py) without expanding it.
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(sam_template())
    template = language_extensions(template, parameter_values(template, dict(params)))
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        return transform(template, dict(params), _NoManagedPolicies())


class Stack:
    """The expanded template as CloudFormation would create it with these parameter values:
    conditions decided, resources whose condition is false left out, intrinsics resolved.
    Another resource's Ref reads "<Name>", its GetAtt "<Name.Attribute>"."""

    def __init__(self, **overrides: str) -> None:
        given = {**REQUIRED, **overrides}
        self.template = _expanded(tuple(sorted(given.items())))
        self.params: dict[str, Any] = parameter_values(self.template, given)
        self._conditions: dict[str, bool] = {}
        self.resources = {
            name: self.resolve(spec)
            for name, spec in self.template["Resources"].items()
            if "Condition" not in spec or self.condition(spec["Condition"])
        }
        self.outputs = {
            name: self.resolve(spec["Value"])
            for name, spec in self.template.get("Outputs", {}).items()
            if "Condition" not in spec or self.condition(spec["Condition"])
        }

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        return f"<{name}>"

    def sub(self, text: str, names: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in names:
                return str(names[name])
            if "." in name and name.split(".")[0] not in self.params:
                return f"<{name}>"
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value: Any) -> Any:  # one branch per intrinsic function
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, arg)] = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in arg)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in arg)
            if key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, {k: self.resolve(v) for k, v in names.items()})
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{name}.{attribute}>"
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def rule_failures(self) -> list[str]:
        """The Rules whose condition holds and whose assertions do not, as CloudFormation would
        refuse the deploy."""
        failures = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            if not all(self.resolve(item["Assert"]) for item in rule["Assertions"]):
                failures.append(name)
        return failures

    # What the tests read.

    def statements(self) -> list[dict[str, Any]]:
        role = self.resources["BillingPortalFunctionRole"]["Properties"]
        return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]

    def statement(self, sid: str) -> dict[str, Any]:
        [found] = [s for s in self.statements() if s.get("Sid") == sid]
        return found

    def environment(self) -> dict[str, str]:
        function = self.resources["BillingPortalFunction"]["Properties"]
        variables: dict[str, str] = function["Environment"]["Variables"]
        return variables


# Lambda's documented limit on a function's environment: all variables together, 4 KB.
ENVIRONMENT_LIMIT = 4096


def environment_size(variables: dict[str, str], resolved: dict[str, int] | None = None) -> int:
    """The bytes the variables take, counted as Lambda's API carries them (a JSON object of names
    and values, UTF-8): more than the names and values alone, so a fit here fits there.
    `resolved`: the length a dynamic reference (`{{resolve:...}}`) has once CloudFormation has
    resolved it, by variable name."""
    counted = {
        name: "x" * (resolved or {}).get(name, len(value)) for name, value in variables.items()
    }
    return len(json.dumps(counted, ensure_ascii=False, separators=(",", ":")).encode())
