"""What the function may do, as the template's role grants it: read the Stripe key from exactly
one store (SSM or Secrets Manager) and decrypt it only through that store, write to its own log
group, write to the customers table only when it creates customers; no wildcard anywhere."""

from __future__ import annotations

import json
import re

import pytest

from tools.cfn import ACCOUNT, Stack, sam_template

SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:billing-portal/prod/stripe-Ab12Cd"

KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_by_default_the_function_may_read_exactly_its_one_ssm_parameter() -> None:
    stack = Stack()

    assert stack.statement("ReadStripeApiKey") == {
        "Sid": "ReadStripeApiKey",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/billing-portal/stripe-api-key",
    }
    assert stack.settings()["STRIPE_API_KEY_PARAM"] == "/billing-portal/stripe-api-key"
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
    assert stack.settings()["STRIPE_API_KEY_PARAM"] == "secretsmanager:billing-portal/prod/stripe"
    assert not [s for s in stack.statements() if "ssm:" in json.dumps(s)]


def test_a_secret_arn_is_granted_as_it_is() -> None:
    stack = Stack(StripeApiKeySecret=SECRET_ARN)

    assert stack.statement("ReadStripeApiKeySecret")["Resource"] == SECRET_ARN
    assert stack.settings()["STRIPE_API_KEY_PARAM"] == f"secretsmanager:{SECRET_ARN}"


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


@pytest.mark.parametrize(
    ("create", "actions"),
    [("false", ["dynamodb:GetItem"]), ("true", ["dynamodb:GetItem", "dynamodb:UpdateItem"])],
)
def test_the_customers_table_is_written_only_when_creation_is_on(
    create: str, actions: list[str]
) -> None:
    stack = Stack(CreateMissingCustomers=create, CustomersTableKey="pk", CustomerIdAttribute="cid")

    granted = [s["Action"] for s in stack.statements() if "dynamodb:" in str(s["Action"])]
    assert granted == actions
    variables = stack.settings()
    assert variables["CREATE_MISSING_CUSTOMERS"] == create
    assert (variables["CUSTOMERS_TABLE_KEY"], variables["CUSTOMER_ID_ATTRIBUTE"]) == ("pk", "cid")


# --- A switch of key or table: the role is both versions' while the canary runs -------------

OLD_TABLE = "billing-portal-prod-CustomersTable-1AB2CD3EF4GH5"
# Each switch: the parameters before it, after it, and what tools.deploy adds for the switch.
SWITCHES = {
    "SSM to Secrets Manager": (
        {},
        {"StripeApiKeySecret": "billing-portal/prod/stripe"},
        {"RetiredStripeApiKeyParam": "/billing-portal/stripe-api-key"},
    ),
    "Secrets Manager to SSM": (
        {"StripeApiKeySecret": SECRET_ARN},
        {},
        {"RetiredStripeApiKeySecret": SECRET_ARN},
    ),
    "one SSM parameter to another": (
        {},
        {"StripeApiKeyParam": "/billing-portal/prod/rotated"},
        {"RetiredStripeApiKeyParam": "/billing-portal/stripe-api-key"},
    ),
    "the stack's table to an existing one": (
        {},
        {"ExistingCustomersTable": "customers-restored"},
        {"RetiredCustomersTable": OLD_TABLE},
    ),
}
ACTIONS = ("ssm:GetParameter", "secretsmanager:GetSecretValue", "dynamodb:GetItem")


def _grants(stack: Stack, action: str) -> set[str]:
    found = set()
    for statement in stack.statements():
        actions = statement["Action"]
        if action in ([actions] if isinstance(actions, str) else actions):
            found.add(statement["Resource"].replace("<CustomersTable.Arn>", OLD_TABLE_ARN))
    return found


OLD_TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{OLD_TABLE}"


@pytest.mark.parametrize("switch", SWITCHES, ids=list(SWITCHES))
def test_a_switch_deploy_grants_what_the_old_and_the_new_version_read(switch: str) -> None:
    old, new, retired = SWITCHES[switch]
    before = Stack(CreateMissingCustomers="true", **old)
    during = Stack(CreateMissingCustomers="true", **new, **retired)
    after = Stack(CreateMissingCustomers="true", **new)

    for action in ACTIONS:
        assert _grants(before, action) | _grants(after, action) <= _grants(during, action), action
    assert _grants(during, "dynamodb:UpdateItem") == _grants(before, "dynamodb:UpdateItem") | (
        _grants(after, "dynamodb:UpdateItem")
    )
    # The next deploy, with Retired* empty again, grants the new key and table only.
    keys = _grants(after, "ssm:GetParameter") | _grants(after, "secretsmanager:GetSecretValue")
    assert len(keys) == 1
    assert len(_grants(after, "dynamodb:GetItem")) == 1


def test_a_retired_table_is_written_only_when_creation_is_on() -> None:
    stack = Stack(RetiredCustomersTable="customers-old")

    assert stack.statement("ReadRetiredCustomerMapping")["Action"] == "dynamodb:GetItem"
