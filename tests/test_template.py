"""What template.yaml deploys, checked offline: the SAM transform (samtranslator, in-process)
expands it with a deploy's parameters, and a small evaluator plays CloudFormation's part
(conditions, !If, !Sub, !Ref), so each test reads the resources a real stack would get.

Also: the one version (pyproject.toml = the Serverless Application Repository metadata), the build
(handler/Makefile) targeting the template's runtime and architecture, the samconfig.toml
environments, every parameter the docs name, and the requests a browser sends to the custom
domain in cookie mode, through the real handler.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from billing_portal.web import cors
from testing.cfn import ACCOUNT, STACK, Stack, sam_template
from testing.harness import ROOT
from testing.markdown import markdown_lines

CERTIFICATE = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
DOMAIN = {
    "ApiDomainName": "billing.example.com",
    "ApiCertificateArn": CERTIFICATE,
    "ApiHostedZoneId": "Z0123456789ABCDEFGHIJ",
}
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:billing-portal/prod/stripe-Ab12Cd"
KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# --- One version ------------------------------------------------------------------------------


def _project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_the_template_publishes_the_projects_one_version() -> None:
    application = sam_template()["Metadata"]["AWS::ServerlessRepo::Application"]

    assert application["SemanticVersion"] == _project_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", _project_version())


def test_the_changelog_and_licence_ship_with_that_version() -> None:
    application = sam_template()["Metadata"]["AWS::ServerlessRepo::Application"]
    changelog = (ROOT / "CHANGELOG.md").read_text()

    assert re.search(rf"^## \[?{re.escape(_project_version())}\]?", changelog, re.MULTILINE)
    assert application["SpdxLicenseId"] == "MIT"
    assert (ROOT / application["LicenseUrl"]).read_text().startswith("MIT License")
    assert (ROOT / application["ReadmeUrl"]).exists()


# --- The build targets the runtime ------------------------------------------------------------

WHEEL_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def _make_variables() -> dict[str, str]:
    text = (ROOT / "handler" / "Makefile").read_text()
    return dict(re.findall(r"^([A-Za-z_0-9]+)\s*[:?]?=\s*(.*?)\s*$", text, re.MULTILINE))


def test_the_build_makes_wheels_and_bytecode_for_the_templates_runtime_and_architecture() -> None:
    function = sam_template()["Resources"]["BillingPortalFunction"]["Properties"]
    make = _make_variables()
    [architecture] = function["Architectures"]

    assert function["Runtime"] == f"python{make['PYTHON_VERSION']}"
    assert make["ARCH"] == architecture
    assert make[f"PLATFORM_{architecture}"] == WHEEL_PLATFORM[architecture]
    assert make["PLATFORM"] == "$(PLATFORM_$(ARCH))"


def test_the_makefile_names_the_python_version_in_one_place() -> None:
    # Changing PYTHON_VERSION must be enough: no other line may spell the version out.
    version = _make_variables()["PYTHON_VERSION"]
    lines = (ROOT / "handler" / "Makefile").read_text().splitlines()
    code = [line for line in lines if not line.lstrip().startswith("#")]

    assert [line for line in code if version in line] == [f"PYTHON_VERSION := {version}"]


# --- Environments -----------------------------------------------------------------------------


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def _overrides(environment: dict[str, Any]) -> dict[str, str]:
    items = environment["global"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in items)


def test_each_environment_has_its_own_profile_region_and_stripe_key() -> None:
    config = _samconfig()
    dev, prod = config["default"], config["prod"]

    for environment in (dev, prod):
        assert environment["global"]["parameters"]["region"]
        # Set where AWS is called, never in `global`, so that `sam validate` (CI) needs none.
        assert "profile" not in environment["global"]["parameters"]
        assert environment["deploy"]["parameters"]["profile"]
        assert environment["logs"]["parameters"]["profile"]
        assert environment["delete"]["parameters"]["profile"]
    assert dev["deploy"]["parameters"]["profile"] != prod["deploy"]["parameters"]["profile"]
    assert dev["global"]["parameters"]["stack_name"] != prod["global"]["parameters"]["stack_name"]


def test_dev_never_reads_the_live_key_by_default() -> None:
    config = _samconfig()
    dev, prod = _overrides(config["default"]), _overrides(config["prod"])
    default = sam_template()["Parameters"]["StripeApiKeyParam"]["Default"]

    assert dev["StripeApiKeyParam"] != prod["StripeApiKeyParam"]
    assert default not in (dev["StripeApiKeyParam"], prod["StripeApiKeyParam"])
    assert "prod" not in dev["StripeApiKeyParam"]
    assert "StripeApiKeySecret" not in dev
    # The dev stack's policy then names the dev parameter only.
    resource = Stack(**dev).statement("ReadStripeApiKey")["Resource"]
    assert resource.endswith(f":parameter{dev['StripeApiKeyParam']}")


def test_every_environment_expands_without_a_rule_failing() -> None:
    for environment in _samconfig().values():
        if isinstance(environment, dict):
            assert Stack(**_overrides(environment)).rule_failures() == []


def test_prod_alarms_reach_a_person_and_canary_while_dev_deploys_at_once() -> None:
    prod, dev = (_overrides(_samconfig()[name]) for name in ("prod", "default"))
    assert prod["EnvironmentType"] == "prod" and prod["AlarmEmail"]
    assert "DeploymentType" not in prod  # the template's canary
    assert dev["DeploymentType"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_every_environment_tags_its_stack_and_so_every_resource() -> None:
    for name in ("default", "prod"):
        tags = _samconfig()[name]["deploy"]["parameters"]["tags"]
        expected = "dev" if name == "default" else "prod"
        assert tags == f"project=billing-portal environment={expected}"


# --- The Stripe key: SSM or Secrets Manager, exactly one of them ------------------------------


def test_by_default_the_function_may_read_exactly_its_one_ssm_parameter() -> None:
    stack = Stack()

    assert stack.statement("ReadStripeApiKey") == {
        "Sid": "ReadStripeApiKey",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/billing-portal/stripe-api-key",
    }
    assert stack.environment()["STRIPE_API_KEY_PARAM"] == "/billing-portal/stripe-api-key"
    assert not [s for s in stack.statements() if "secretsmanager" in json.dumps(s)]


def test_a_secret_name_grants_that_secret_only_and_tells_the_function_to_read_it() -> None:
    stack = Stack(StripeApiKeySecret="billing-portal/prod/stripe")

    assert stack.statement("ReadStripeApiKeySecret") == {
        "Sid": "ReadStripeApiKeySecret",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        # Secrets Manager appends "-" and 6 characters to the name; each "?" is one character.
        "Resource": (
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:billing-portal/prod/stripe-??????"
        ),
    }
    assert (
        stack.environment()["STRIPE_API_KEY_PARAM"] == "secretsmanager:billing-portal/prod/stripe"
    )
    assert not [s for s in stack.statements() if "ssm:" in json.dumps(s)]


def test_a_secret_arn_is_granted_as_it_is() -> None:
    stack = Stack(StripeApiKeySecret=SECRET_ARN)

    assert stack.statement("ReadStripeApiKeySecret")["Resource"] == SECRET_ARN
    assert stack.environment()["STRIPE_API_KEY_PARAM"] == f"secretsmanager:{SECRET_ARN}"


def test_the_key_read_from_the_templates_setting_is_the_secret(monkeypatch: Any) -> None:
    # The value the template hands the function makes the function read that very secret.
    import boto3
    from moto import mock_aws

    from billing_portal.adapters.stripe_key import StripeKey

    setting = Stack(StripeApiKeySecret="billing-portal/prod/stripe").environment()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name="billing-portal/prod/stripe", SecretString="sk_test_from_secrets_manager"
        )

        key = StripeKey(None, setting["STRIPE_API_KEY_PARAM"])()

    assert key == "sk_test_from_secrets_manager"


@pytest.mark.parametrize(
    ("overrides", "service"),
    [({}, "ssm"), ({"StripeApiKeySecret": "billing-portal/prod/stripe"}, "secretsmanager")],
)
def test_a_customer_managed_key_may_decrypt_only_through_the_keys_store(
    overrides: dict[str, str], service: str
) -> None:
    stack = Stack(StripeApiKeyKmsKeyArn=KMS_KEY, **overrides)

    assert stack.statement("DecryptStripeApiKey") == {
        "Sid": "DecryptStripeApiKey",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KMS_KEY,
        "Condition": {"StringEquals": {"kms:ViaService": f"{service}.us-east-1.amazonaws.com"}},
    }
    assert not [s for s in Stack(**overrides).statements() if s.get("Sid") == "DecryptStripeApiKey"]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"StripeApiKeySecret": SECRET_ARN, "StripeApiKeyKmsKeyArn": KMS_KEY},
        {"ExistingCustomersTable": "t1"},
    ],
)
def test_no_statement_grants_a_wildcard_resource_or_action(overrides: dict[str, str]) -> None:
    for statement in Stack(CreateMissingCustomers="true", **overrides).statements():
        assert "*" not in str(statement["Action"])
        if statement["Sid"] == "SendTraces":  # X-Ray takes no other resource
            assert statement["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
            continue
        assert statement["Resource"] != "*"


def test_the_function_writes_to_its_own_log_group_only() -> None:
    stack = Stack()
    function = stack.resources["BillingPortalFunction"]["Properties"]
    assert function["Role"] == "<BillingPortalFunctionRole.Arn>"
    role = stack.resources["BillingPortalFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role  # no AWSLambdaBasicExecutionRole (logs:* on *)
    assert stack.statement("WriteOwnLogs") == {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "<BillingPortalLogGroup.Arn>",
    }


def test_the_log_salt_is_a_generated_secret_not_the_stack_id() -> None:
    stack = Stack()
    salt = stack.environment()["USER_HASH_SALT"]
    assert salt == "{{resolve:secretsmanager:<UserHashSalt>:SecretString}}"
    secret = stack.resources["UserHashSalt"]["Properties"]["GenerateSecretString"]
    assert secret["PasswordLength"] >= 32


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("billing-portal/prod/stripe", True),
        (SECRET_ARN, True),
        # A partial ARN (no 6-character suffix) would never match the policy's Resource.
        (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:billing-portal/prod/stripe", False),
        ("stripe key", False),
    ],
)
def test_the_secret_parameter_takes_a_name_or_a_full_arn(value: str, accepted: bool) -> None:
    pattern = sam_template()["Parameters"]["StripeApiKeySecret"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


# --- Custom domain ----------------------------------------------------------------------------


def execute_api_disabled(stack: Stack) -> bool:
    [server] = stack.resources["BillingApi"]["Properties"]["Body"]["servers"]
    disabled: bool = server["x-amazon-apigateway-endpoint-configuration"][
        "disableExecuteApiEndpoint"
    ]
    return disabled


def test_a_custom_domain_gets_the_domain_its_mapping_and_its_record() -> None:
    stack = Stack(**DOMAIN)
    resources = stack.resources

    assert resources["ApiDomain"]["Properties"] == {
        "DomainName": "billing.example.com",
        "DomainNameConfigurations": [
            {
                "CertificateArn": CERTIFICATE,
                "EndpointType": "REGIONAL",
                "SecurityPolicy": "TLS_1_2",
                "IpAddressType": "dualstack",
            }
        ],
    }
    # At the domain's root: the function routes on /billing/portal, with no base path before it.
    assert resources["ApiDomainMapping"]["Properties"] == {
        "DomainName": "<ApiDomain>",
        "ApiId": "<BillingApi>",
        "Stage": "<BillingApiApiGatewayDefaultStage>",
    }
    assert resources["BillingApiApiGatewayDefaultStage"]["Properties"]["StageName"] == "$default"
    for record, kind in (("ApiDomainRecord", "A"), ("ApiDomainRecordIpv6", "AAAA")):
        assert resources[record]["Properties"] == {
            "HostedZoneId": "Z0123456789ABCDEFGHIJ",
            "Name": "billing.example.com",
            "Type": kind,
            "AliasTarget": {
                "DNSName": "<ApiDomain.RegionalDomainName>",
                "HostedZoneId": "<ApiDomain.RegionalHostedZoneId>",
                "EvaluateTargetHealth": False,
            },
        }
    assert stack.outputs["BillingPortalUrl"] == "https://billing.example.com/billing/portal"
    # The custom domain is the one way in, so a WAF or CloudFront before it cannot be bypassed.
    assert execute_api_disabled(stack) is True
    assert "ExecuteApiUrl" not in stack.outputs
    assert stack.rule_failures() == []


def test_without_a_hosted_zone_the_output_says_where_to_point_the_dns() -> None:
    stack = Stack(ApiDomainName="billing.example.com", ApiCertificateArn=CERTIFICATE)

    assert {"ApiDomain", "ApiDomainMapping"} <= set(stack.resources)
    assert "ApiDomainRecord" not in stack.resources
    assert stack.outputs["ApiDomainTarget"] == "<ApiDomain.RegionalDomainName>"


def test_without_a_domain_there_is_only_the_execute_api_url() -> None:
    stack = Stack()

    assert not {"ApiDomain", "ApiDomainMapping", "ApiDomainRecord"} & set(stack.resources)
    assert "ApiDomainTarget" not in stack.outputs
    assert stack.outputs["BillingPortalUrl"] == (
        "https://<BillingApi>.execute-api.us-east-1.amazonaws.com/billing/portal"
    )
    assert execute_api_disabled(stack) is False


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"ApiDomainName": "billing.example.com"}, "DomainNeedsCertificate"),
        ({"ApiCertificateArn": CERTIFICATE}, "CertificateAndZoneNeedDomain"),
        ({"ApiHostedZoneId": "Z0123456789ABCDEFGHIJ"}, "CertificateAndZoneNeedDomain"),
        ({"BillingRoles": "billing-admin"}, "RolesNeedRoleClaim"),
        ({"BillingRoleClaim": "roles"}, "RoleClaimNeedsRoles"),
        ({"AuthCookieName": "session"}, "CookieNeedsInFunctionAuth"),
    ],
)
def test_half_a_setup_is_refused_before_anything_is_created(
    overrides: dict[str, str], rule: str
) -> None:
    assert Stack(**overrides).rule_failures() == [rule]


# --- Settings the function reads --------------------------------------------------------------


def test_team_billing_parameters_reach_the_function() -> None:
    stack = Stack(BillingRoleClaim="cognito:groups", BillingRoles="billing-admins")

    assert stack.environment()["BILLING_ROLE_CLAIM"] == "cognito:groups"
    assert stack.environment()["BILLING_ROLES"] == "billing-admins"
    assert Stack().environment()["BILLING_ROLES"] == ""  # empty = unset: everyone with a token


def test_metrics_and_the_alarm_on_them_belong_to_one_stack() -> None:
    # Two stacks in one account must never fire each other's alarms.
    stack = Stack()
    environment = stack.environment()
    alarm = stack.resources["MisconfigurationsAlarm"]["Properties"]

    assert environment["POWERTOOLS_SERVICE_NAME"] == STACK
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == f"BillingPortal/{STACK}"
    assert alarm["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": STACK}]


# --- What operators see -----------------------------------------------------------------------


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


def test_fetch_callers_may_read_retry_after_from_the_api_and_from_the_function() -> None:
    api = Stack().resources["BillingApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    origin = "https://app.example.com"
    answered = cors.response_headers({"origin": origin}, frozenset({origin}))

    assert "retry-after" in {header.lower() for header in api["exposeHeaders"]}
    exposed = answered["Access-Control-Expose-Headers"].split(",")
    assert "retry-after" in {header.strip().lower() for header in exposed}


# --- The docs name only parameters the template has ------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# CamelCase words in code that look like parameters but are other things.
NOT_PARAMETERS = {
    # the function's metrics (handler/billing_portal/observability.py)
    "PortalSessionCreated",
    "AuthFailures",
    "MissingBillingAccounts",
    "UpstreamFailures",
    "RejectedRequests",
    "FlowsUnavailable",
    "UnhandledErrors",
    "BillingPortal",  # the metric namespace's prefix
    # AWS names
    "KeySchema",
    "ProvisionedThroughputExceeded",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ConcurrentExecutions",
    "GetSecretValue",
    "GetParameter",
    "GetItem",
    "UpdateItem",
    "SecureString",
    "ServerlessRepo",
    "RetentionInDays",
    "DeletionPolicy",
    "CodeUri",
    "KmsKeyId",
    "DeploymentPreference",
    "DisableExecuteApiEndpoint",
    "DescribeStacks",
    "EvaluateLowSampleCountPercentile",
    "DeletionProtectionEnabled",
    "NoRegionError",  # botocore's, in development.md
    "BoundedJWKClient",  # a class of web/tokens.py, in authentication.md
    "StripeClient",  # the stripe SDK's client, in performance.md
    "UpdateUserAttributes",  # Cognito's API actions, in authentication.md
    "AdminUpdateUserAttributes",
    # cookie attributes
    "SameSite",
    "HttpOnly",
}
CAMEL = r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+"
WHOLE_CAMEL = re.compile(rf"^{CAMEL}$")
ASSIGNED = re.compile(rf"(?<![\w-])({CAMEL})=")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def named_in(text: str) -> set[str]:
    """The parameter-like names in a markdown text: a whole code span such as `AuthMode`, and
    every `Name=` (a parameter override) in code spans and fenced blocks."""
    names: set[str] = set()
    for line, fenced in markdown_lines(text):
        if fenced:
            names.update(ASSIGNED.findall(line))
            continue
        for span in CODE_SPAN.finditer(line):
            code = span.group(2).strip()
            if WHOLE_CAMEL.match(code):
                names.add(code)
            names.update(ASSIGNED.findall(code))
    return names


def _template_names() -> set[str]:
    template = sam_template()
    return {
        name
        for part in ("Parameters", "Resources", "Outputs", "Conditions", "Rules")
        for name in template.get(part, {})
    }


def unknown_names(text: str) -> set[str]:
    return named_in(text) - _template_names() - NOT_PARAMETERS


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_every_parameter_the_docs_name_is_in_the_template(path: Path) -> None:
    assert unknown_names(path.read_text(encoding="utf-8")) == set(), (
        "not in template.yaml (a misspelling, or add it to NOT_PARAMETERS if it is not meant "
        "as a template name)"
    )


def test_every_template_parameter_is_documented() -> None:
    named = set().union(*(named_in(path.read_text(encoding="utf-8")) for path in DOCS))

    assert set(sam_template()["Parameters"]) - named == set()


def test_the_docs_check_catches_a_misspelled_parameter() -> None:
    text = (
        "Set `AuthMode` and `JwtIsuer`.\n"
        "```sh\nsam deploy --parameter-overrides AuthMode=function JwtAudiance=abc\n```\n"
        "`Set-Cookie: s=1; HttpOnly; SameSite=Lax` and `AuthMode=function` `AUTH_COOKIE_NAME`\n"
    )

    assert unknown_names(text) == {"JwtIsuer", "JwtAudiance"}


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
