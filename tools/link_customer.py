"""Link a user to a Stripe customer that already exists, for migrations and support.

It writes the same table with the same code the function uses
(handler/billing_portal/adapters/customer_table.py):

    python3 uvw.py run python -m tools.link_customer USER_KEY cus_... --table NAME
        [--key user_id] [--attribute stripe_customer_id] [--region REGION] [--force]
    python3 uvw.py run python -m tools.link_customer USER_KEY cus_... --local URL

--table, --key and --attribute default to CUSTOMERS_TABLE, CUSTOMERS_TABLE_KEY and
CUSTOMER_ID_ATTRIBUTE from the environment. A user already linked to another customer is left
alone unless --force is given. AWS credentials and region come from the usual AWS settings
(--region overrides the region); --local URL writes the local server's DynamoDB instead (the
URL its banner prints), with its table as the default.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.domain.customer import is_customer_id
from billing_portal.errors import ServerMisconfigured
from tools import samconfig

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def customer_id(value: str) -> str:
    if not is_customer_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a customer id (cus_..., or acct_... for Accounts v2)"
        )
    return value


def local_url(value: str) -> str:
    """--local: the local server's DynamoDB, on this machine only."""
    parts = urlsplit(value)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS or not parts.port:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not the local server's DynamoDB; pass the URL its banner prints, "
            "e.g. http://127.0.0.1:5000"
        )
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 uvw.py run python -m tools.link_customer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("user_key", help="the user's key (the USER_ID_CLAIM claim, e.g. sub)")
    parser.add_argument("customer_id", type=customer_id, help="cus_... (or acct_...)")
    env = os.environ.get
    parser.add_argument(
        "--table",
        default=env("CUSTOMERS_TABLE"),
        help="the customers table (default: $CUSTOMERS_TABLE; with --local, "
        f"{samconfig.LOCAL_TABLE})",
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
    parser.add_argument("--region", help="the table's AWS region (default: the AWS settings')")
    parser.add_argument(
        "--local",
        metavar="URL",
        type=local_url,
        help="the local server's DynamoDB (python -m local.server prints the URL), not AWS",
    )
    args = parser.parse_args(argv)
    if args.local and args.table is None:
        args.table = samconfig.LOCAL_TABLE
    if args.table is None:
        parser.error("--table is required (or set CUSTOMERS_TABLE)")
    return args


def dynamodb_client(args: argparse.Namespace) -> Any:
    if args.local:
        # moto takes any credentials; these keep a real profile's out of the request.
        return boto3.client(
            "dynamodb",
            endpoint_url=args.local,
            region_name=args.region or "us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (moto's, not a secret)
        )
    return boto3.client("dynamodb", region_name=args.region)


class ToolError(Exception):
    """What went wrong, in one sentence for the operator running this tool."""


def check_table(client: Any, table: str, key: str) -> None:
    """The table exists here, these credentials may see it, and its partition key is `key`."""
    try:
        schema = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            region = client.meta.region_name
            raise ToolError(
                f"there is no table {table!r} in {region}; check --table and the region"
            ) from None
        if code == "AccessDeniedException":
            raise ToolError(
                f"access to table {table!r} was denied; these AWS credentials need "
                "dynamodb:DescribeTable, GetItem and UpdateItem on it"
            ) from None
        raise
    [hash_key] = [k["AttributeName"] for k in schema["KeySchema"] if k["KeyType"] == "HASH"]
    if hash_key != key:
        raise ToolError(
            f"table {table!r} is keyed by {hash_key!r}, not {key!r}; pass --key {hash_key}"
        )


def link(args: argparse.Namespace, client: Any) -> str:
    """Link as asked; the line to print. ToolError when the user is linked elsewhere."""
    table = CustomerTable(client, args.table, args.key, args.attribute)
    try:
        current: str | None = table.link(args.user_key, args.customer_id).id
    except ServerMisconfigured:
        # The table checks passed, so the user's item holds something that is not a customer id.
        current = None
    if current == args.customer_id:
        return f"{args.user_key} -> {args.customer_id}"
    if not args.force:
        held = current or f"a value in {args.attribute!r} that is not a customer id"
        raise ToolError(f"{args.user_key} is already linked to {held}; pass --force to replace it")
    previous = table.relink(args.user_key, args.customer_id)
    return f"{args.user_key} -> {args.customer_id} (was {previous})"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # The table code logs for the Lambda's operators; here the tool says what happened itself.
    logging.disable(logging.ERROR)
    try:
        client = dynamodb_client(args)
        check_table(client, args.table, args.key)
        print(link(args, client))
        return 0
    except ToolError as exc:
        print(f"link_customer: {exc}", file=sys.stderr)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"link_customer: DynamoDB refused: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
    except NoRegionError:
        print(
            "link_customer: no AWS region; pass --region (e.g. --region eu-west-1), set "
            "AWS_REGION or a profile's region, or --local URL for the local server",
            file=sys.stderr,
        )
    except BotoCoreError as exc:
        print(f"link_customer: could not reach DynamoDB: {exc}", file=sys.stderr)
    finally:
        logging.disable(logging.NOTSET)
    return 1


if __name__ == "__main__":
    sys.exit(main())
