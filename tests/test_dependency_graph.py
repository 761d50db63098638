"""CloudFormation refuses a template whose resources wait for each other in a circle ("Circular
dependency between resources"), before it creates anything. It counts every `Ref`, `Fn::GetAtt`
and `Fn::Sub` name in a resource's Properties and UpdatePolicy, and its DependsOn; the SAM
transform adds resources and references of its own (the alias's UpdatePolicy names the CodeDeploy
deployment group, which names the rollout's alarms), so the graph is read from the template
expanded as a deploy expands it, for every kind of deployment the parameters make.
"""

from __future__ import annotations

import pytest

from tools.cfn import Stack, circle

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing/stripe-AbCdEf"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
TOPIC = "arn:aws:sns:us-east-1:123456789012:on-call"
# One deployment of each kind the parameters make.
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "in-function auth": {"AuthMode": "function"},
    "cookie sessions": {"AuthMode": "function", "AuthCookieName": "session"},
    "an existing table": {"ExistingCustomersTable": "customers"},
    "customer creation": {"CreateMissingCustomers": "true"},
    "an SSM key without a leading slash": {"StripeApiKeyParam": "stripe-key"},
    "a Secrets Manager key by name": {"StripeApiKeySecret": "billing/stripe"},
    "a Secrets Manager key by ARN": {"StripeApiKeySecret": SECRET_ARN},
    "a customer managed KMS key": {"StripeApiKeyKmsKeyArn": KMS_KEY},
    "SnapStart": {"SnapStart": "enabled"},
    "reserved concurrency": {"ReservedConcurrency": "5"},
    "a custom domain": {"ApiDomainName": "billing.example.com", "ApiCertificateArn": CERTIFICATE},
    "a custom domain and its record": {
        "ApiDomainName": "billing.example.com",
        "ApiCertificateArn": CERTIFICATE,
        "ApiHostedZoneId": "Z0123456789ABC",
    },
    "a role gate": {"BillingRoleClaim": "roles", "BillingRoles": "billing-admin"},
    "a canary": {"DeploymentType": "CodeDeployDefault.LambdaCanary10Percent5Minutes"},
    "linear": {"DeploymentType": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"},
    "all at once": {"DeploymentType": "CodeDeployDefault.LambdaAllAtOnce"},
    "prod with your topic": {"EnvironmentType": "prod", "AlarmTopicArn": TOPIC},
    "prod with an email": {"EnvironmentType": "prod", "AlarmEmail": "ops@example.com"},
    "pages and tickets to your topics": {"AlarmTopicArn": TOPIC, "TicketTopicArn": TOPIC},
    "a switch of key and table rolling out": {
        "StripeApiKeySecret": "billing/stripe",
        "RetiredStripeApiKeyParam": "/billing-portal/stripe-api-key",
        "ExistingCustomersTable": "customers-restored",
        "RetiredCustomersTable": "billing-portal-prod-CustomersTable-1AB2CD3EF4GH5",
    },
    "everything at once": {
        "AuthMode": "function",
        "AuthCookieName": "session",
        "ExistingCustomersTable": "customers",
        "CreateMissingCustomers": "true",
        "StripeApiKeySecret": SECRET_ARN,
        "StripeApiKeyKmsKeyArn": KMS_KEY,
        "SnapStart": "enabled",
        "ApiDomainName": "billing.example.com",
        "ApiCertificateArn": CERTIFICATE,
        "ApiHostedZoneId": "Z0123456789ABC",
        "BillingRoleClaim": "roles",
        "BillingRoles": "billing-admin",
        "EnvironmentType": "prod",
        "AlarmEmail": "ops@example.com",
    },
}


@pytest.mark.parametrize("params", PARAMETER_SETS.values(), ids=list(PARAMETER_SETS))
def test_no_resource_waits_for_itself(params: dict[str, str]) -> None:
    stack = Stack(**params)
    assert stack.rule_failures() == []

    assert stack.circle() == [], "Circular dependency between resources: " + " -> ".join(
        stack.circle()
    )


def test_the_check_finds_a_circle_through_an_update_policy() -> None:
    # The shape that made the template undeployable: an alarm on the API gating the rollout.
    graph = {
        "Api5xxAlarm": {"BillingApi"},
        "BillingApi": {"BillingPortalFunctionAliaslive"},
        "BillingPortalFunctionAliaslive": {"BillingPortalFunctionDeploymentGroup"},
        "BillingPortalFunctionDeploymentGroup": {"Api5xxAlarm"},
        "BillingPortalFunction": set(),
    }

    assert circle(graph) == [
        "Api5xxAlarm",
        "BillingApi",
        "BillingPortalFunctionAliaslive",
        "BillingPortalFunctionDeploymentGroup",
        "Api5xxAlarm",
    ]
