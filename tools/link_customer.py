"""Link a user to a Stripe customer that already exists, for migrations and support.

It writes the same table with the same code the function uses
(handler/billing_portal/adapters/customer_table.py):

    uv run python -m tools.link_customer USER_KEY cus_... --table NAME [--key user_id]
        [--attribute stripe_customer_id] [--force]

--table, --key and --attribute default to CUSTOMERS_TABLE, CUSTOMERS_TABLE_KEY and
CUSTOMER_ID_ATTRIBUTE from the environment. A user already linked to another customer is left
alone unless --force is given. AWS credentials and region come from the usual AWS settings.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.domain.customer import is_customer_id
from billing_portal.errors import ServerMisconfigured


def customer_id(value: str) -> str:
    if not is_customer_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a customer id (cus_..., or acct_... for Accounts v2)"
        )
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.link_customer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("user_key", help="the user's key (the USER_ID_CLAIM claim, e.g. sub)")
    parser.add_argument("customer_id", type=customer_id, help="cus_... (or acct_...)")
    env = os.environ.get
    parser.add_argument(
        "--table",
        default=env("CUSTOMERS_TABLE"),
        required=not env("CUSTOMERS_TABLE"),
        help="the customers table (default: $CUSTOMERS_TABLE)",
    )
    parser.add_argument(
        "--key",
        default=env("CUSTOMERS_TABLE_KEY") or "user_id",
        help="its partition key (default: $CUSTOMERS_TABLE_KEY or user_id)",
    )
    parser.add_argument(
        "--attribute",
        default=env("CUSTOMER_ID_ATTRIBUTE") or "stripe_customer_id",
        help="the customer id attribute (default: $CUSTOMER_ID_ATTRIBUTE or stripe_customer_id)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace the customer a user is already linked to"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        table = CustomerTable(boto3.client("dynamodb"), args.table, args.key, args.attribute)
        try:
            current: str | None = table.link(args.user_key, args.customer_id).id
        except ServerMisconfigured:
            current = None  # the item holds something that is not a customer id
        if current == args.customer_id:
            print(f"{args.user_key} -> {args.customer_id}")
            return 0
        if not args.force:
            held = current or f"a value in '{args.attribute}' that is not a customer id"
            print(
                f"{args.user_key} is already linked to {held}; pass --force to replace it",
                file=sys.stderr,
            )
            return 1
        previous = table.relink(args.user_key, args.customer_id)
        print(f"{args.user_key} -> {args.customer_id} (was {previous})")
        return 0
    except (ClientError, BotoCoreError) as exc:
        print(f"DynamoDB: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
