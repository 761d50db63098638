"""DynamoDB: which Stripe customer belongs to a user, and how their portal is set up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dynamodb_errors import dynamodb_errors
from errors import ServerMisconfigured

CUSTOMER_ID = re.compile(r"^(cus|acct)_[A-Za-z0-9]+$")


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
