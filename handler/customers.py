"""DynamoDB: which Stripe customer belongs to a user, how their portal is set up, linking one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_errors import dynamodb_errors
from botocore.config import Config
from errors import ServerMisconfigured

CUSTOMER_ID = re.compile(r"^(cus|acct)_[A-Za-z0-9]+$")

# DynamoDB answers in milliseconds in-region, so short timeouts turn a sick endpoint into a
# quick 503 and leave the rest of the 10 s budget to Stripe. Worst case per call: 2 attempts x
# (0.5 s connect + 1 s read) + at most 1 s of throttling backoff = 4 s (DYNAMODB_WORST_CASE_MS).
# "standard" retries throttling, 5xx and network errors with jittered backoff and a retry quota
# that stops retrying when most calls fail (an outage isn't made worse); "adaptive" would add
# client-side rate limiting that may sleep before sending, a wait this budget cannot afford.
DYNAMODB_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1.0,
    retries={"mode": "standard", "total_max_attempts": 2},
)
DYNAMODB_WORST_CASE_MS = 4000


@dataclass(frozen=True)
class Customer:
    """A user's billing identity, as the portal session needs it."""

    id: str
    configuration: str | None = None
    on_behalf_of: str | None = None

    @property
    def param(self) -> str:
        """The session parameter naming this customer: Accounts v2 ids go in customer_account."""
        return "customer_account" if self.id.startswith("acct_") else "customer"


class CustomerTable:
    """The customers table; one item per user, keyed by the user key."""

    def __init__(self, client: Any, table: str, key: str, attribute: str) -> None:
        self._client = client
        self._table = table
        self._key = key
        self._attribute = attribute

    def find(self, user_key: str) -> Customer | None:
        """The user's customer, or None when the user has no item (one GetItem, few attributes)."""
        with dynamodb_errors():
            item = self._client.get_item(
                TableName=self._table,
                Key={self._key: {"S": user_key}},
                ProjectionExpression="#customer, portal_configuration, on_behalf_of",
                ExpressionAttributeNames={"#customer": self._attribute},
            ).get("Item")
        # An item without the attribute is a user with no customer yet (tables users already
        # have hold other attributes too).
        if item is None or self._attribute not in item:
            return None
        return self._customer(item)

    def link(self, user_key: str, customer_id: str) -> Customer:
        """Map the user to customer_id unless they already have a customer; the customer they have.

        One conditional write decides races: the first writer wins, and every other writer gets
        the winner's item back from the same call (ALL_OLD on the failed check), so concurrent
        first clicks all end at one customer without a second, possibly stale, read. UpdateItem,
        not PutItem: in a table that already holds the user's other attributes, a put would
        replace the whole item; SET touches only the customer attribute.
        """
        _check_id(customer_id)
        with dynamodb_errors():
            try:
                response = self._client.update_item(
                    **self._set(user_key, customer_id),
                    ConditionExpression="attribute_not_exists(#customer)",
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                return self._customer(exc.response["Item"])
        return self._customer(response["Attributes"])

    def relink(self, user_key: str, customer_id: str) -> str | None:
        """Map the user to customer_id whatever they had (support's --force); the previous id."""
        _check_id(customer_id)
        response = self._client.update_item(
            **self._set(user_key, customer_id), ReturnValues="UPDATED_OLD"
        )
        previous = response.get("Attributes", {}).get(self._attribute, {}).get("S")
        return str(previous) if previous is not None else None

    def _set(self, user_key: str, customer_id: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {self._key: {"S": user_key}},
            "UpdateExpression": "SET #customer = :customer",
            "ExpressionAttributeNames": {"#customer": self._attribute},
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
        }

    def _customer(self, item: dict[str, Any]) -> Customer:
        customer_id = item[self._attribute].get("S", "")
        if not CUSTOMER_ID.match(customer_id):
            raise ServerMisconfigured(
                f"The customers table's '{self._attribute}' attribute must hold a cus_ or acct_ id."
            )
        return Customer(
            id=customer_id,
            configuration=item.get("portal_configuration", {}).get("S"),
            on_behalf_of=item.get("on_behalf_of", {}).get("S"),
        )


def _check_id(customer_id: str) -> None:
    if not CUSTOMER_ID.match(customer_id):
        raise ValueError("a customer id looks like cus_... (or acct_... for Accounts v2)")
