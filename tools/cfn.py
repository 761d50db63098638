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
    """Every parameter's value in a deploy given these: the given one, else its default, as the
    string CloudFormation's Ref returns (a Number too, as written: "1024"); a CommaDelimitedList
    as a list of its members, each trimmed of surrounding spaces, as CloudFormation splits it."""
    values: dict[str, Any] = {}
    for name, spec in template["Parameters"].items():
        value = given.get(name, spec.get("Default"))
        if value is not None:
            value = str(value)
            if spec["Type"] == "CommaDelimitedList":
                value = [member.strip() for member in value.split(",")]
        values[name] = value
    return values


def language_extensions(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """AWS::LanguageExtensions' `Fn::ToJsonString`: the object, its parameter Refs, Fn::If, Fn::Sub
    and Fn::Join resolved, as a literal JSON string (CloudFormation's documented result). Nothing
    else in the template is touched: whether the transform also resolves intrinsics outside
    `Fn::ToJsonString` is not documented, so nothing here relies on it. A reference it cannot
    resolve before the deploy (another resource's Ref or GetAtt) is an error here."""
    evaluator = Evaluator(template, values)

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        if list(value) == ["Fn::ToJsonString"]:
            body = value["Fn::ToJsonString"]
            # Judged on the references themselves, not the text: a value may hold "<b>".
            unknown = sorted(references(body) - set(values) - set(PSEUDO))
            if unknown:
                raise ValueError(f"Fn::ToJsonString: {unknown[0]} is not known before a deploy")
            return json.dumps(evaluator.resolve(body), separators=(",", ":"))
        return {key: walk(item) for key, item in value.items()}

    result: dict[str, Any] = walk(template)
    return result


def expand(packaged: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """A packaged template (`sam_template()`, or an edited copy) expanded as a deploy with these
    parameter values expands it: AWS::LanguageExtensions, then the SAM transform."""
    # Imported here: the transform takes seconds to import, and local/ and bench/ read the
    # template (testing/harness.py) without expanding it.
    from samtranslator.translator.transform import transform

    template = language_extensions(copy.deepcopy(packaged), parameter_values(packaged, given))
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        expanded: dict[str, Any] = transform(template, given, _NoManagedPolicies())
    return expanded


@cache
def _expanded(params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return expand(sam_template(), dict(params))


class Evaluator:
    """Decides a template's conditions and resolves its intrinsics for these parameter values.
    Another resource's Ref reads "<Name>", its GetAtt "<Name.Attribute>"."""

    def __init__(self, template: dict[str, Any], params: dict[str, Any]) -> None:
        self.template = template
        self.params = params
        self._conditions: dict[str, bool] = {}

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


class Stack(Evaluator):
    """The expanded template as CloudFormation would create it with these parameter values:
    conditions decided, resources whose condition is false left out, intrinsics resolved.

    Not played: parameter constraints (AllowedPattern and the like: see `rule_failures` for the
    Rules), dynamic references (`{{resolve:...}}` stay text), Fn::ImportValue, Fn::FindInMap,
    Fn::Base64, Fn::Cidr, Fn::GetAZs and Fn::ForEach (the template uses none), and what other
    resources' attributes are at deploy time."""

    def __init__(self, **overrides: str) -> None:
        given = {**REQUIRED, **overrides}
        template = _expanded(tuple(sorted(given.items())))
        super().__init__(template, parameter_values(template, given))
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

    def circle(self) -> list[str]:
        """A dependency circle among the resources this deploy creates, or []."""
        return circle(dependencies(self.template, set(self.resources)))

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

    def settings(self) -> dict[str, str]:
        """The settings as the function reads them (settings.py): the members of the
        BILLING_PORTAL_SETTINGS bundle, and the variables of their own, which win when set."""
        variables = dict(self.environment())
        bundle: dict[str, str] = json.loads(variables.pop(BUNDLE, "{}"))
        return {**bundle, **{name: value for name, value in variables.items() if value}}

    def environment_size(self) -> int:
        """The environment's size once deployed (`environment_size`), with what CloudFormation
        fills in at deploy time at its longest: the salt's 32 characters, and the name it gives
        the customers table it creates (<stack>-CustomersTable-<13 characters>)."""
        variables = self.environment()
        resolved = {"USER_HASH_SALT": SALT_LENGTH}
        if variables.get("CUSTOMERS_TABLE") == "<CustomersTable>":
            resolved["CUSTOMERS_TABLE"] = min(len(f"{STACK}-CustomersTable-") + 13, 255)
        return environment_size(variables, resolved)


# Lambda's documented limit on a function's environment: all variables together, 4 KB.
ENVIRONMENT_LIMIT = 4096
# The variable that carries the parameter-derived settings (handler/billing_portal/settings.py).
BUNDLE = "BILLING_PORTAL_SETTINGS"
# template.yaml's UserHashSalt: GenerateSecretString's PasswordLength.
SALT_LENGTH = 32


def environment_size(variables: dict[str, str], resolved: dict[str, int] | None = None) -> int:
    """The bytes the variables take, counted as Lambda's API carries them (a JSON object of names
    and values, UTF-8): more than the names and values alone, so a fit here fits there.
    `resolved`: the length a dynamic reference (`{{resolve:...}}`) has once CloudFormation has
    resolved it, by variable name."""
    counted = {
        name: "x" * (resolved or {}).get(name, len(value)) for name, value in variables.items()
    }
    return len(json.dumps(counted, ensure_ascii=False, separators=(",", ":")).encode())


# --- Dependencies, as CloudFormation orders a deploy -----------------------------------------


def references(value: Any) -> set[str]:
    """The logical names a piece of template names: `Ref`, `Fn::GetAtt` and the `${Name}` /
    `${Name.Attribute}` of `Fn::Sub` (its own variables and `${!literal}` excepted), in every
    branch of every `Fn::If`: CloudFormation counts a reference wherever it stands."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                name = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                found.add(name)
            elif key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else arg
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name.split(".", 1)[0] not in names:
                        found.add(name.split(".", 1)[0])
                found |= references(names)
            else:
                found |= references(arg)
    return found


def dependencies(template: dict[str, Any], present: set[str]) -> dict[str, set[str]]:
    """Each present resource's resources it waits for: what its Properties and UpdatePolicy name
    (CloudFormation counts both), and its DependsOn."""
    graph: dict[str, set[str]] = {}
    for name in present:
        spec = template["Resources"][name]
        named = references(spec.get("Properties", {})) | references(spec.get("UpdatePolicy", {}))
        depends = spec.get("DependsOn", [])
        named |= {depends} if isinstance(depends, str) else set(depends)
        graph[name] = named & present
    return graph


def circle(graph: dict[str, set[str]]) -> list[str]:
    """One dependency circle (its resources in order, the first again at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.cfn [Key=Value ...] > expanded.json`: the template as CloudFormation runs
    it with these parameters (the required ones default to examples), for linters to read."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    given = dict(arg.split("=", 1) for arg in args)
    print(json.dumps(expand(sam_template(), {**REQUIRED, **given}), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
