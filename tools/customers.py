"""The customers table against Stripe: audit every mapped customer, and link one by hand.

    python3 uvw.py run python -m tools.customers audit --env prod [--fix [--replace]]
    python3 uvw.py run python -m tools.customers audit --table NAME [--region R] [--fix ...]
    python3 uvw.py run python -m tools.customers audit --local URL [--fix ...]
    python3 uvw.py run python -m tools.customers link USER_KEY cus_... (tools.link_customer's
        arguments; `python -m tools.link_customer` still works)

`audit` reads the table in pages (Scan, --page-size items each) and asks Stripe for each mapped
customer (GET /v1/customers/{id}), at most --rate reads per second (a token bucket shared by
--workers threads), waiting out Stripe's 429 answers (their Retry-After, else a doubling backoff)
before going on. It reports how many items are fine and lists those whose customer is deleted,
of the other mode (a live id read with a test key, or the reverse), unknown to the account, or
not a customer id at all. `--fix` unlinks the deleted ones (removes the customer attribute only
while it still names the deleted customer; the item's other attributes stay) or, with
`--replace`, makes each a new customer and maps it in its place, as the function would on the
user's next click (same idempotency key, so the two never make two customers). Unknown, other
mode and malformed items are never touched: they are the operator's to look into.

After every page the position (Scan's LastEvaluatedKey) and the counts so far are saved in the
--checkpoint file; an interrupted audit (Ctrl-C, a network failure, Stripe's 429s that do not
end) run again with the same command resumes there. The file is removed when the audit ends.

--env ENV reads samconfig.toml's environment: its AWS profile and region, the table (its
ExistingCustomersTable, else the stack's CustomersTable), CustomersTableKey,
CustomerIdAttribute, and the Stripe key from where the function reads it. Without --env:
--table (default $CUSTOMERS_TABLE) and the key in STRIPE_API_KEY. STRIPE_API_KEY and
STRIPE_API_BASE (a Stripe stand-in) in the environment take precedence. --local URL: the local
server's DynamoDB (the URL its banner prints) and STRIPE_API_BASE its Stripe stand-in.
Exit status: 0 the audit ran to the end, 1 a problem (one plain line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
import stripe
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError, ProfileNotFound

from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.adapters.stripe_api import StripeApi
from billing_portal.adapters.stripe_errors import other_mode
from billing_portal.domain.customer import is_customer_id
from billing_portal.errors import Problem
from tools import link_customer, samconfig
from tools.portal_config import PortalConfigError, stripe_key

PROG = "customers"
# Stripe allows 100 read requests a second in live mode and 25 in test mode; an audit must leave
# most of that to the deployment's own users.
DEFAULT_RATE = 20.0
# Stripe answers in a few hundred ms: reads in flight at once to reach the rate.
DEFAULT_WORKERS = 8
DEFAULT_PAGE_SIZE = 100
# 429s in a row for one read before the audit stops (resumable) instead of waiting on.
MAX_RATE_LIMITED = 8
BACKOFF_MAX = 30.0

# What Stripe says of an item's customer -> how the report names it.
KINDS = {
    "ok": "ok",
    "deleted": "deleted",
    "other-mode": "other mode",
    "unknown": "unknown to this Stripe account",
    "malformed": "not a customer id",
    "account": "Accounts v2 (acct_, not checked)",
    "none": "no customer",
}
LISTED = ("deleted", "other-mode", "unknown", "malformed")
WHY = {
    "deleted": "deleted at Stripe",
    "other-mode": "a similar object exists in the other mode: the key and the table differ",
    "unknown": "not in this Stripe account (another account, or mistyped): left as it is",
    "malformed": "not a cus_/acct_ id: left as it is",
}


class ToolError(Exception):
    """What went wrong, in one sentence for the operator."""


class TokenBucket:
    """At most `rate` takes a second, `capacity` at once; pause() holds every taker (a 429)."""

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.capacity = rate, capacity
        self._clock, self._sleep = clock, sleep
        self._tokens = capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                wait = max(self._paused_until - now, (1 - self._tokens) / self.rate, 0.0)
                if wait <= 1e-9:  # rounding: a wait the clock cannot even show
                    self._tokens -= 1
                    return
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            self._tokens = 0.0


@dataclass
class Target:
    """The table and the Stripe account to audit."""

    dynamodb: Any
    table: str
    key: str
    attribute: str
    api_key: str
    api_base: str | None

    def stripe_client(self) -> stripe.StripeClient:
        # The SDK retries connection errors, 409s and 5xx; 429s are the audit's own to wait out.
        return stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.api_base} if self.api_base else {},  # type: ignore[typeddict-item]
            max_network_retries=2,
        )


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    # (kind, user key, customer id, what was done)
    findings: list[list[str]] = field(default_factory=list)
    reads: int = 0
    rate_limited: int = 0

    @property
    def items(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "findings": self.findings,
            "reads": self.reads,
            "rate_limited": self.rate_limited,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            counts={**dict.fromkeys(KINDS, 0), **data["counts"]},
            findings=[list(finding) for finding in data["findings"]],
            reads=int(data.get("reads", 0)),
            rate_limited=int(data.get("rate_limited", 0)),
        )


@dataclass(frozen=True)
class Options:
    fix: bool = False
    replace: bool = False
    rate: float = DEFAULT_RATE
    workers: int = DEFAULT_WORKERS
    page_size: int = DEFAULT_PAGE_SIZE


class Auditor:
    """One audit run: pages in, Stripe asked within the rate, fixes as asked, checkpoints out."""

    def __init__(
        self, target: Target, options: Options, checkpoint: Path, progress: TextIO
    ) -> None:
        self.target, self.options, self.checkpoint = target, options, checkpoint
        self.progress = progress
        self.bucket = TokenBucket(options.rate)
        self.stripe = target.stripe_client()
        self.table = CustomerTable(target.dynamodb, target.table, target.key, target.attribute)
        self._lock = threading.Lock()
        self.report = Report()
        self.resumed_items = 0
        self.saved_items = 0  # items the checkpoint holds
        self.reads_this_run = 0

    def run(self) -> Report:
        start_key = self._resume()
        started = time.monotonic()
        with ThreadPoolExecutor(self.options.workers) as pool:
            while True:
                page = self._scan(start_key)
                for _ in pool.map(self._audit_item, page.get("Items", [])):
                    pass
                start_key = page.get("LastEvaluatedKey")
                self._save(start_key)
                self._show_progress(time.monotonic() - started)
                if start_key is None:
                    break
        self.elapsed = time.monotonic() - started
        self.checkpoint.unlink(missing_ok=True)
        return self.report

    # --- the table

    def _scan(self, start_key: dict[str, Any] | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "TableName": self.target.table,
            "Limit": self.options.page_size,
            "ProjectionExpression": "#key, #customer",
            "ExpressionAttributeNames": {
                "#key": self.target.key,
                "#customer": self.target.attribute,
            },
        }
        if start_key:
            params["ExclusiveStartKey"] = start_key
        page: dict[str, Any] = self.target.dynamodb.scan(**params)
        return page

    def _audit_item(self, item: dict[str, Any]) -> None:
        user_key = str(item.get(self.target.key, {}).get("S", ""))
        customer_id = item.get(self.target.attribute, {}).get("S")
        if customer_id is None:
            kind = "none"
        elif not is_customer_id(customer_id):
            kind = "malformed"
        elif customer_id.startswith("acct_"):
            kind = "account"
        else:
            kind = self._ask_stripe(customer_id)
        done = ""
        if kind == "deleted" and self.options.fix:
            done = self._fix(user_key, customer_id or "")
        with self._lock:
            self.report.counts[kind] += 1
            if kind in LISTED:
                self.report.findings.append([kind, user_key, customer_id or "", done])

    def _fix(self, user_key: str, deleted: str) -> str:
        try:
            if self.options.replace:
                api = StripeApi(
                    lambda: self.target.api_key,
                    api_base=self.target.api_base,
                    deployment=self.target.table,
                )
                created = api.create_customer(user_key, replaces=deleted)
                now = self.table.replace(user_key, deleted, created)
                return f"replaced by {now.id}"
            if self.table.unlink(user_key, deleted):
                return "unlinked"
            return "not unlinked: the item changed meanwhile"
        except Problem as problem:
            return f"not fixed: {problem.detail}"

    # --- Stripe

    def _ask_stripe(self, customer_id: str) -> str:
        backoff = 1.0
        for _ in range(MAX_RATE_LIMITED):
            self.bucket.take()
            with self._lock:
                self.report.reads += 1
                self.reads_this_run += 1
            try:
                customer = self.stripe.v1.customers.retrieve(customer_id)
            except stripe.RateLimitError as exc:
                wait = _retry_after(exc) or backoff
                backoff = min(backoff * 2, BACKOFF_MAX)
                with self._lock:
                    self.report.rate_limited += 1
                self.bucket.pause(wait)
                continue
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                return "other-mode" if other_mode(exc) else "unknown"
            return "deleted" if getattr(customer, "deleted", False) else "ok"
        raise ToolError(
            f"Stripe answered 429 (too many requests) {MAX_RATE_LIMITED} times in a row; "
            "run the same command later to resume, or lower --rate"
        )

    # --- checkpoint and progress

    def _resume(self) -> dict[str, Any] | None:
        if not self.checkpoint.exists():
            return None
        try:
            saved = json.loads(self.checkpoint.read_text())
            if saved["table"] != self.target.table:
                raise ToolError(
                    f"{self.checkpoint} is an audit of table {saved['table']!r}, not "
                    f"{self.target.table!r}; pass another --checkpoint or delete it"
                )
            if saved["fix"] != _mode(self.options):
                raise ToolError(
                    f"{self.checkpoint} was saved by an audit with {saved['fix']}; run it again "
                    "with the same options to resume, or delete it to start over"
                )
            self.report = Report.from_json(saved["report"])
            start: dict[str, Any] | None = saved["last_evaluated_key"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ToolError(
                f"{self.checkpoint} is not an audit checkpoint; delete it to start over"
            ) from None
        self.resumed_items = self.saved_items = self.report.items
        print(
            f"{PROG}: resuming from {self.checkpoint} ({self.resumed_items} items audited before)",
            file=self.progress,
        )
        return start

    def _save(self, last_key: dict[str, Any] | None) -> None:
        saved = {
            "table": self.target.table,
            "fix": _mode(self.options),
            "last_evaluated_key": last_key,
            "report": self.report.as_json(),
        }
        temporary = self.checkpoint.with_suffix(".tmp")
        temporary.write_text(json.dumps(saved))
        temporary.replace(self.checkpoint)  # never a half-written checkpoint
        self.saved_items = self.report.items

    def _show_progress(self, elapsed: float) -> None:
        counts = self.report.counts
        rate = self.reads_this_run / elapsed if elapsed > 0 else 0.0
        line = (
            f"{PROG}: {self.report.items} items audited, {rate:.1f} Stripe reads/s; "
            f"deleted {counts['deleted']}, other mode {counts['other-mode']}, "
            f"unknown {counts['unknown']}"
        )
        if self.progress.isatty():
            print(f"\r{line}", end="", file=self.progress, flush=True)
        else:
            print(line, file=self.progress, flush=True)


def _mode(options: Options) -> str:
    if options.fix:
        return "--fix --replace" if options.replace else "--fix"
    return "no --fix"


def _retry_after(exc: stripe.StripeError) -> float | None:
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
    try:
        seconds = float(headers["retry-after"])
    except (KeyError, ValueError):
        return None
    return min(max(seconds, 0.0), BACKOFF_MAX) if math.isfinite(seconds) else None


def summary(auditor: Auditor) -> list[str]:
    report, target = auditor.report, auditor.target
    rate = auditor.reads_this_run / auditor.elapsed if auditor.elapsed > 0 else 0.0
    resumed = f", {auditor.resumed_items} of them before resuming" if auditor.resumed_items else ""
    lines = [
        f"table {target.table}: {report.items} items audited{resumed}; this run "
        f"{auditor.reads_this_run} Stripe reads in {auditor.elapsed:.1f} s ({rate:.1f}/s), "
        f"{report.rate_limited} answered 429 in all",
        "; ".join(f"{KINDS[kind]} {count}" for kind, count in report.counts.items()),
    ]
    for kind, user_key, customer_id, done in sorted(report.findings):
        what = f" ({done})" if done else f" ({WHY[kind]})"
        lines.append(f"{KINDS[kind]}: {user_key} -> {customer_id}{what}")
    return lines


# --- where: --env, --table or --local ------------------------------------------------------------


def target(args: argparse.Namespace) -> Target:
    if args.local:
        return _local_target(args)
    env = samconfig.load(args.env) if args.env else None
    session = _session(env, args.region)
    params = env.parameters if env else {}
    key = args.key or params.get("CustomersTableKey") or "user_id"
    attribute = args.attribute or params.get("CustomerIdAttribute") or "stripe_customer_id"
    table = args.table or (_stack_table(session, env) if env else None)
    if table is None:
        raise ToolError("no table: pass --env ENV or --table NAME (or set CUSTOMERS_TABLE)")
    dynamodb = session.client("dynamodb")
    link_customer.check_table(dynamodb, table, key)
    api_key, api_base = _stripe_key(env)
    return Target(dynamodb, table, key, attribute, api_key, api_base)


def _session(env: samconfig.Environment | None, region: str | None) -> boto3.session.Session:
    profile = env.profile if env else None
    try:
        return boto3.session.Session(
            profile_name=profile, region_name=region or (env.region if env else None)
        )
    except ProfileNotFound:
        raise ToolError(
            f"the AWS profile {profile!r} (samconfig.toml's {env.name if env else ''} "
            f"environment) is not configured here; run: aws configure --profile {profile}"
        ) from None


def _stack_table(session: boto3.session.Session, env: samconfig.Environment) -> str:
    existing = env.parameters.get("ExistingCustomersTable")
    if existing:
        return existing
    try:
        resource = session.client("cloudformation").describe_stack_resource(
            StackName=env.stack_name, LogicalResourceId="CustomersTable"
        )
    except ClientError:
        raise ToolError(
            f"stack {env.stack_name!r} has no CustomersTable in {session.region_name} (not "
            "deployed there, or these credentials cannot see it); pass --table NAME"
        ) from None
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def _stripe_key(env: samconfig.Environment | None) -> tuple[str, str | None]:
    if env is not None:
        try:
            return stripe_key(env)
        except PortalConfigError as exc:
            raise ToolError(str(exc)) from None
    api_key = os.environ.get("STRIPE_API_KEY", "").strip()
    if not api_key:
        raise ToolError(
            "no Stripe key: pass --env ENV (the key is read where its function reads it) or "
            "set STRIPE_API_KEY"
        )
    return api_key, os.environ.get("STRIPE_API_BASE", "").strip() or None


def _local_target(args: argparse.Namespace) -> Target:
    base = os.environ.get("STRIPE_API_BASE", "").strip() or None
    api_key = os.environ.get("STRIPE_API_KEY", "").strip()
    if base is None and not api_key.startswith("sk_test_"):
        raise ToolError(
            "with --local, set STRIPE_API_BASE to the Stripe stand-in's URL the local server "
            "prints (or STRIPE_API_KEY=sk_test_... for Stripe's test mode)"
        )
    args.table = args.table or samconfig.LOCAL_TABLE
    dynamodb = link_customer.dynamodb_client(args)
    key = args.key or "user_id"
    link_customer.check_table(dynamodb, args.table, key)
    return Target(
        dynamodb,
        args.table,
        key,
        args.attribute or "stripe_customer_id",
        api_key or "sk_test_fake",
        base,
    )


# --- command line -----------------------------------------------------------------------------


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
        return value

    return parse


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.customers", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="check every mapped customer at Stripe")
    where = audit.add_mutually_exclusive_group()
    where.add_argument("--env", help="a samconfig.toml environment (default, prod)")
    where.add_argument(
        "--local",
        metavar="URL",
        type=link_customer.local_url,
        help="the local server's DynamoDB (its banner prints the URL)",
    )
    audit.add_argument(
        "--table", default=os.environ.get("CUSTOMERS_TABLE"), help="the customers table"
    )
    audit.add_argument("--key", default=os.environ.get("CUSTOMERS_TABLE_KEY"))
    audit.add_argument("--attribute", default=os.environ.get("CUSTOMER_ID_ATTRIBUTE"))
    audit.add_argument("--region", help="the table's AWS region (default: the environment's)")
    audit.add_argument("--fix", action="store_true", help="unlink items of deleted customers")
    audit.add_argument(
        "--replace", action="store_true", help="with --fix: map a new customer instead"
    )
    audit.add_argument(
        "--rate",
        type=positive(float),
        default=DEFAULT_RATE,
        help=f"Stripe reads per second at most (default {DEFAULT_RATE:g})",
    )
    audit.add_argument("--workers", type=positive(int), default=DEFAULT_WORKERS)
    audit.add_argument("--page-size", type=positive(int), default=DEFAULT_PAGE_SIZE)
    audit.add_argument(
        "--checkpoint",
        type=Path,
        help="where to save progress (default customers-audit-<table>.json)",
    )
    commands.add_parser("link", help="link a user to a customer (tools.link_customer)")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["link"]:
        return argparse.Namespace(command="link", rest=argv[1:])
    args = parser.parse_args(argv)
    if args.replace and not args.fix:
        parser.error("--replace goes with --fix")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "link":
        return link_customer.main(args.rest)
    # The adapters log for the Lambda's operators; here the tool says what happened itself.
    logging.disable(logging.CRITICAL)
    try:
        where = target(args)
        options = Options(args.fix, args.replace, args.rate, args.workers, args.page_size)
        checkpoint = args.checkpoint or Path(f"customers-audit-{where.table}.json")
        auditor = Auditor(where, options, checkpoint, sys.stderr)
        try:
            auditor.run()
        except KeyboardInterrupt:
            print(
                f"\n{PROG}: interrupted; {auditor.saved_items} items audited are saved in "
                f"{checkpoint}, and the same command resumes after them",
                file=sys.stderr,
            )
            return 1
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print("\n".join(summary(auditor)))
        return 0
    except (ToolError, samconfig.ConfigError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
    except NoRegionError:
        print(
            f"{PROG}: no AWS region; pass --env ENV or --region, or set AWS_REGION",
            file=sys.stderr,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{PROG}: AWS refused: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
    except BotoCoreError as exc:
        print(f"{PROG}: could not reach AWS: {exc}", file=sys.stderr)
    except stripe.AuthenticationError:
        print(f"{PROG}: Stripe rejected the API key", file=sys.stderr)
    except stripe.StripeError as exc:
        print(f"{PROG}: Stripe failed: {type(exc).__name__}: {exc.user_message}", file=sys.stderr)
    except link_customer.ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
    finally:
        logging.disable(logging.NOTSET)
    return 1


if __name__ == "__main__":
    sys.exit(main())
