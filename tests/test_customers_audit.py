"""tools/customers.py audit: the customers table checked against Stripe (moto and the stand-in,
the real SDK over HTTP), fixed as asked, within the rate, resumable; each mistake one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, session_customer
from testing.harness import DEMO_TABLE, LambdaContext, put_customer
from tools import customers, samconfig


def item(dynamodb: Any, user_key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = dynamodb.get_item(
        TableName=DEMO_TABLE, Key={"user_id": {"S": user_key}}, ConsistentRead=True
    ).get("Item")
    return found


def fill(dynamodb: Any, fake: FakeStripe, ok: int = 6, deleted: int = 2) -> dict[str, str]:
    """A table with `ok` good items, `deleted` of deleted customers, and one each of the other
    kinds; user key -> customer id."""
    table: dict[str, str] = {}
    for n in range(ok):
        table[f"ok-{n}"] = fake.add_customer()
    for n in range(deleted):
        table[f"deleted-{n}"] = fake.add_customer()
        fake.delete_customer(table[f"deleted-{n}"])
    table["unknown-0"] = "cus_NeverInThisAccount"
    table["other-mode-0"] = fake.add_customer(livemode=True)
    table["malformed-0"] = "cus_ with a space"
    table["account-0"] = "acct_Seller1"
    for user_key, customer_id in table.items():
        put_customer(dynamodb, user_key, customer_id)
    dynamodb.put_item(TableName=DEMO_TABLE, Item={"user_id": {"S": "none-0"}})
    return table


@pytest.fixture
def run(dynamodb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """The audit of the demo table (env: CUSTOMERS_TABLE, STRIPE_API_KEY and STRIPE_API_BASE set
    to the stand-in), fast unless a test says otherwise; (exit status, stdout, stderr lines)."""

    def audit(*args: str) -> tuple[int, list[str], list[str]]:
        argv = ["audit", "--checkpoint", str(tmp_path / "audit.json"), "--page-size", "4"]
        code = customers.main([*argv, "--rate", "1000", *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out.splitlines(), err.splitlines()

    return audit


def reads(fake: FakeStripe) -> list[str]:
    return [call.path.rsplit("/", 1)[1] for call in fake.calls("GET", "/v1/customers/")]


def test_the_audit_counts_every_kind_and_lists_the_broken_items_touching_nothing(
    run: Any, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    table = fill(dynamodb, fake_stripe)

    code, out, err = run()

    assert code == 0
    assert out[1] == (
        "ok 6; deleted 2; other mode 1; unknown to this Stripe account 1; not a customer id 1; "
        "Accounts v2 (acct_, not checked) 1; no customer 1"
    )
    assert out[2:] == [
        f"deleted: deleted-0 -> {table['deleted-0']} (deleted at Stripe)",
        f"deleted: deleted-1 -> {table['deleted-1']} (deleted at Stripe)",
        "not a customer id: malformed-0 -> cus_ with a space (not a cus_/acct_ id: left as it is)",
        f"other mode: other-mode-0 -> {table['other-mode-0']} (a similar object exists in the "
        "other mode: the key and the table differ)",
        "unknown to this Stripe account: unknown-0 -> cus_NeverInThisAccount (not in this Stripe "
        "account (another account, or mistyped): left as it is)",
    ]
    assert out[0].startswith(f"table {DEMO_TABLE}: 13 items audited; this run 10 Stripe reads")
    # Every cus_ id read once; acct_, malformed and empty items never sent.
    assert sorted(reads(fake_stripe)) == sorted(
        v for k, v in table.items() if not k.startswith(("malformed", "account"))
    )
    assert fake_stripe.calls("POST") == []
    assert all(item(dynamodb, k) is not None for k in table)
    assert len([line for line in err if "items audited" in line]) == 4  # one per page of 4


def test_fix_unlinks_deleted_customers_only_and_keeps_the_items_other_attributes(
    run: Any, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    table = fill(dynamodb, fake_stripe)
    dynamodb.update_item(
        TableName=DEMO_TABLE,
        Key={"user_id": {"S": "deleted-0"}},
        UpdateExpression="SET seats = :plan",
        ExpressionAttributeValues={":plan": {"S": "team"}},
    )

    code, out, _ = run("--fix")

    assert code == 0
    assert f"deleted: deleted-0 -> {table['deleted-0']} (unlinked)" in out
    assert item(dynamodb, "deleted-0") == {"user_id": {"S": "deleted-0"}, "seats": {"S": "team"}}
    assert item(dynamodb, "deleted-1") == {"user_id": {"S": "deleted-1"}}
    for kept in ("unknown-0", "other-mode-0", "malformed-0", "ok-0"):
        assert item(dynamodb, kept) == {
            "user_id": {"S": kept},
            "stripe_customer_id": {"S": table[kept]},
        }
    assert fake_stripe.calls("POST") == []


def test_fix_replace_maps_the_customer_the_users_next_click_would_have_made(
    run: Any, monkeypatch: pytest.MonkeyPatch, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    deleted = fake_stripe.add_customer()
    put_customer(dynamodb, "demo-user", deleted)
    fake_stripe.delete_customer(deleted)

    code, out, _ = run("--fix", "--replace")

    new = item(dynamodb, "demo-user")["stripe_customer_id"]["S"]  # type: ignore[index]
    assert code == 0
    assert out[2] == f"deleted: demo-user -> {deleted} (replaced by {new})"
    assert fake_stripe.customers[new]["metadata"] == {
        "user_key": "demo-user",
        "customers_table": DEMO_TABLE,
        "replaces": deleted,
    }
    # The function, racing the audit on the old item, gets the same customer from Stripe.
    put_customer(dynamodb, "demo-user", deleted)
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")
    response = build_handler()(event("home"), LambdaContext())
    assert session_customer(fake_stripe, response) == new
    assert [c for c in fake_stripe.customers if c != deleted] == [new]


def test_429s_are_waited_out_and_every_item_is_still_audited(
    run: Any, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    fill(dynamodb, fake_stripe)
    fake_stripe.fail_next(429, times=3, path_prefix="/v1/customers/", retry_after=0.1)

    code, out, _ = run()

    assert code == 0
    assert "this run 13 Stripe reads" in out[0]  # 10 items, 3 of them read again
    assert out[0].endswith(", 3 answered 429 in all")
    assert out[1].startswith("ok 6; deleted 2; other mode 1; unknown to this Stripe account 1;")


def test_an_interrupted_audit_resumes_from_its_checkpoint(
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    tmp_path: Path,
) -> None:
    table = fill(dynamodb, fake_stripe, ok=20)
    take = customers.TokenBucket.take
    taken = [0]

    def interrupted_at_the_ninth_read(bucket: customers.TokenBucket) -> None:
        taken[0] += 1
        if taken[0] == 9:
            raise KeyboardInterrupt  # Ctrl-C in the third page
        take(bucket)

    monkeypatch.setattr(customers.TokenBucket, "take", interrupted_at_the_ninth_read)
    code, _, err = run("--workers", "1")
    assert code == 1
    assert err[-1].startswith("customers: interrupted; ")
    assert err[-1].endswith(
        f"saved in {tmp_path / 'audit.json'}, and the same command resumes after them"
    )
    assert (tmp_path / "audit.json").exists()

    monkeypatch.setattr(customers.TokenBucket, "take", take)
    code, out, err = run("--workers", "1")

    assert code == 0
    resumed = re.fullmatch(
        rf"customers: resuming from {re.escape(str(tmp_path / 'audit.json'))} \((\d+) items "
        r"audited before\)",
        err[0],
    )
    assert resumed is not None
    before = int(resumed[1])
    assert before % 4 == 0 and before >= 4  # whole pages of 4
    assert out[0].startswith(
        f"table {DEMO_TABLE}: 27 items audited, {before} of them before resuming"
    )
    assert out[1].startswith("ok 20; deleted 2; other mode 1; unknown to this Stripe account 1;")
    # Every customer read, and only the interrupted page's read twice (at most 4).
    read = reads(fake_stripe)
    looked_up = {v for k, v in table.items() if not k.startswith(("malformed", "account"))}
    assert set(read) == looked_up
    assert len(read) <= len(looked_up) + 4
    assert not (tmp_path / "audit.json").exists()


def test_the_token_bucket_holds_reads_to_the_rate_and_pauses_on_429() -> None:
    now = [0.0]
    bucket = customers.TokenBucket(
        20, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )

    for _ in range(21):
        bucket.take()
    assert now[0] == pytest.approx(1.0)  # 21 reads: the first at once, then one per 50 ms

    bucket.pause(3)
    bucket.take()
    assert now[0] == pytest.approx(4.0)


def test_link_is_the_link_tools_command(dynamodb: Any, fake_stripe: FakeStripe) -> None:
    customer = fake_stripe.add_customer()

    assert customers.main(["link", "new-user", customer, "--table", DEMO_TABLE]) == 0

    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": customer},
    }


# --- mistakes: one plain line each ----------------------------------------------------------


@pytest.fixture
def dev_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamodb: Any) -> None:
    """samconfig.toml's dev environment, its AWS profile answered by moto."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile billing-portal-dev]\nregion = us-east-1\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)


def test_no_stripe_key_is_one_line(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY")

    assert run() == (
        1,
        [],
        [
            "customers: no Stripe key: pass --env ENV (the key is read where its function reads "
            "it) or set STRIPE_API_KEY"
        ],
    )


def test_no_table_is_one_line(run: Any) -> None:
    code, out, err = run("--table", "no-such-table")

    assert (code, out) == (1, [])
    assert err == [
        "customers: there is no table 'no-such-table' in us-east-1; check --table and the region"
    ]


def test_a_key_stripe_rejects_is_one_line(
    run: Any, monkeypatch: pytest.MonkeyPatch, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    fill(dynamodb, fake_stripe, ok=1, deleted=0)
    monkeypatch.setattr(fake_stripe, "api_keys", set())

    assert run() == (1, [], ["customers: Stripe rejected the API key"])


def test_an_environment_whose_profile_is_not_configured_is_one_line(
    run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    code, _, err = run("--env", "default")

    assert code == 1
    assert err == [
        "customers: the AWS profile 'billing-portal-dev' (samconfig.toml's default environment) "
        "is not configured here; run: aws configure --profile billing-portal-dev"
    ]


def test_an_environment_whose_stack_is_not_deployed_is_one_line(
    run: Any, dev_profile: None
) -> None:
    code, _, err = run("--env", "default", "--table", "")

    assert code == 1
    assert err == [
        "customers: stack 'billing-portal-dev' has no CustomersTable in us-east-1 (not deployed "
        "there, or these credentials cannot see it); pass --table NAME"
    ]


def test_an_environment_whose_key_cannot_be_read_is_one_line(
    run: Any, dev_profile: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deployed environment's key comes from its own parameter, never the shell's stand-in.
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    name = samconfig.load("default").stripe_key_location

    code, _, err = run("--env", "default", "--table", DEMO_TABLE)

    assert (code, err) == (
        1,
        [f"customers: cannot read the Stripe key from {name}: ParameterNotFound"],
    )


def test_an_unknown_environment_is_one_line(run: Any) -> None:
    code, _, err = run("--env", "staging")

    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("customers: samconfig.toml has no environment 'staging'")


def test_a_checkpoint_of_another_audit_is_one_line(
    run: Any, tmp_path: Path, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    (tmp_path / "audit.json").write_text('{"table": "other", "fix": "no --fix"}')

    code, _, err = run()

    assert code == 1
    assert err == [
        f"customers: {tmp_path / 'audit.json'} is an audit of table 'other', not "
        f"'{DEMO_TABLE}'; pass another --checkpoint or delete it"
    ]
