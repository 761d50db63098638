"""The customers table (DynamoDB): which Stripe customer a user key maps to, and linking one."""

from __future__ import annotations

from typing import Any

from billing_portal.adapters.aws_errors import dynamodb_errors
from billing_portal.domain.customer import Customer, invalid_field, is_customer_id
from billing_portal.errors import ServerMisconfigured

# The optional per-item attributes, by the Customer field each fills.
ITEM_ATTRIBUTES = {"configuration": "portal_configuration", "on_behalf_of": "on_behalf_of"}


class CustomerTable:
    """One item per user key; `attribute` holds the customer id."""

    def __init__(self, client: Any, table: str, key: str, attribute: str) -> None:
        self._client = client
        self._table = table
        self._key = key
        self._attribute = attribute

    def drop_connections(self) -> None:
        """Close pooled connections (the client stays usable and dials again when needed)."""
        self._client.close()

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

    def replace(self, user_key: str, old_id: str, new_id: str) -> Customer:
        """Map the user from old_id (deleted at Stripe) to new_id, unless the item has moved on;
        the customer they have.

        The condition names the old id, so of concurrent replacements the first wins and the
        others get the winner's item back (ALL_OLD), as in link(); a customer linked by hand
        meanwhile is never overwritten. An item deleted meanwhile is a first click's: link().
        """
        _check_id(new_id)
        update = self._set(user_key, new_id)
        update["ExpressionAttributeValues"][":old"] = {"S": old_id}
        with dynamodb_errors():
            try:
                response = self._client.update_item(
                    **update,
                    ConditionExpression="#customer = :old",
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                item = exc.response.get("Item")
                if item is None or self._attribute not in item:
                    return self.link(user_key, new_id)
                return self._customer(item)
        return self._customer(response["Attributes"])

    def unlink(self, user_key: str, customer_id: str) -> bool:
        """Remove the user's customer if it is still customer_id (the audit's --fix for a
        deleted one; the item's other attributes stay); whether it was removed."""
        update = self._set(user_key, customer_id)
        update["UpdateExpression"] = "REMOVE #customer"
        with dynamodb_errors():
            try:
                self._client.update_item(**update, ConditionExpression="#customer = :customer")
            except self._client.exceptions.ConditionalCheckFailedException:
                return False
        return True

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
        """The item as a Customer; a value that is not an id of its kind is the operator's to fix,
        and nothing of it may reach Stripe."""
        customer = Customer(
            id=item[self._attribute].get("S", ""),
            **{field: item.get(name, {}).get("S") for field, name in ITEM_ATTRIBUTES.items()},
        )
        bad = invalid_field(customer)
        if bad is not None:
            field, expected = bad
            name = ITEM_ATTRIBUTES.get(field, self._attribute)
            raise ServerMisconfigured(
                f"The customers table's '{name}' attribute must hold {expected}."
            )
        return customer


def _check_id(customer_id: str) -> None:
    if not is_customer_id(customer_id):
        raise ValueError("a customer id looks like cus_... (or acct_... for Accounts v2)")
