"""What it takes to run the real handler on one machine: a Lambda context, the customers table
as template.yaml defines it, and demo settings. Used by the tests and the local runners."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tools import samconfig
from tools.cfn import TEMPLATE, parameter_values, template

ROOT = TEMPLATE.parent
EVENTS = ROOT / "events"

DEMO_USER = "demo-user"
DEMO_TABLE = samconfig.LOCAL_TABLE
DEMO_SETTINGS = {
    "CUSTOMERS_TABLE": DEMO_TABLE,
    "ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000",
    "DEFAULT_RETURN_URL": "https://app.example.com/account",
    "STRIPE_API_KEY": "sk_test_fake",
    "POWERTOOLS_SERVICE_NAME": "billing-portal",
    "POWERTOOLS_METRICS_NAMESPACE": "BillingPortal",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@dataclass
class LambdaContext:
    """The attributes powertools reads from Lambda's context object."""

    function_name: str = "billing-portal"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:billing-portal"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@cache
def table_definition(key: str | None = None) -> dict[str, Any]:
    """The customers table's key schema from template.yaml, so tests and deploys cannot drift.

    The key's name is the template's CustomersTableKey parameter: its default, or `key` (what a
    deploy with CustomersTableKey=<key> creates).
    """
    values = parameter_values(template(), {"CustomersTableKey": key} if key else {})
    props = template()["Resources"]["CustomersTable"]["Properties"]

    def resolved(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {name: values[v["Ref"]] if isinstance(v, dict) else v for name, v in item.items()}
            for item in items
        ]

    return {
        "KeySchema": resolved(props["KeySchema"]),
        "AttributeDefinitions": resolved(props["AttributeDefinitions"]),
        "BillingMode": "PAY_PER_REQUEST",
    }


def create_table(dynamodb: Any, name: str = DEMO_TABLE, key: str | None = None) -> None:
    dynamodb.create_table(TableName=name, **table_definition(key))


def put_customer(
    dynamodb: Any,
    user_key: str,
    customer_id: str,
    table: str = DEMO_TABLE,
    *,
    key: str | None = None,
    attribute: str = "stripe_customer_id",
) -> None:
    """Map a user to a customer: key and attribute as CUSTOMERS_TABLE_KEY/CUSTOMER_ID_ATTRIBUTE."""
    key = key or table_definition()["KeySchema"][0]["AttributeName"]
    dynamodb.put_item(TableName=table, Item={key: {"S": user_key}, attribute: {"S": customer_id}})
