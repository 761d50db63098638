"""The user's customer: lazy creation on the first click, races, table layouts, deleted
customers and the link tool. Real lambda_handler, moto DynamoDB, the Stripe stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing_portal.adapters.customer_table import CustomerTable
from testing.events import event
from testing.failing_dynamodb import FailingDynamoDB
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, problem, session_customer
from testing.harness import DEMO_TABLE, LambdaContext, create_table, put_customer
from tools import link_customer

CLAIMS = {"sub": "new-user", "email": "new@example.com", "name": "New User"}


@pytest.fixture
def creating(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")


def item(dynamodb: Any, user_key: str, key: str = "user_id") -> dict[str, Any] | None:
    found: dict[str, Any] | None = dynamodb.get_item(
        TableName=DEMO_TABLE, Key={key: {"S": user_key}}, ConsistentRead=True
    ).get("Item")
    return found


def click(handler: Any, claims: dict[str, Any] = CLAIMS) -> dict[str, Any]:
    result: dict[str, Any] = handler(event("home", claims=claims), LambdaContext())
    return result


# --- Lazy creation ------------------------------------------------------------------------


def test_first_click_creates_the_customer_maps_it_and_opens_its_portal(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    response = click(build_handler())

    [created] = fake_stripe.customers.values()
    assert created["email"] == "new@example.com"
    assert created["name"] == "New User"
    assert created["metadata"] == {"user_key": "new-user", "customers_table": DEMO_TABLE}
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": created["id"]},
    }
    assert session_customer(fake_stripe, response) == created["id"]


def test_creation_is_idempotent_at_stripe_under_a_key_that_hides_the_user_key(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    click(build_handler())

    [call] = fake_stripe.calls("POST", "/v1/customers")
    key = call.headers["idempotency-key"]
    assert key.startswith("billing-portal-customer-")
    assert "new-user" not in key


def test_two_deployments_on_one_stripe_account_never_share_a_customer(
    creating: None, monkeypatch: pytest.MonkeyPatch, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    # Product A and product B: one Stripe account, each its own customers table.
    create_table(dynamodb, "product-b-customers")
    product_a = build_handler()
    monkeypatch.setenv("CUSTOMERS_TABLE", "product-b-customers")
    product_b = build_handler()

    in_a = session_customer(fake_stripe, click(product_a))
    in_b = session_customer(fake_stripe, click(product_b))

    assert in_a != in_b  # B's first click within Stripe's 24 hours is not a replay of A's
    assert fake_stripe.customers[in_a]["metadata"] == {
        "user_key": "new-user",
        "customers_table": DEMO_TABLE,
    }
    assert fake_stripe.customers[in_b]["metadata"]["customers_table"] == "product-b-customers"


def test_second_click_uses_the_stored_customer(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    first = session_customer(fake_stripe, click(handler))

    second = session_customer(fake_stripe, click(handler))

    assert second == first
    assert len(fake_stripe.calls("POST", "/v1/customers")) == 1


def test_claims_without_email_or_name_still_get_a_customer(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    response = click(build_handler(), {"sub": "access-token-user"})

    [created] = fake_stripe.customers.values()
    assert (created["email"], created["name"]) == (None, None)
    assert created["metadata"] == {"user_key": "access-token-user", "customers_table": DEMO_TABLE}
    assert session_customer(fake_stripe, response) == created["id"]


def test_without_creation_an_unmapped_user_gets_a_404_and_nothing_is_created(
    env: dict[str, str], dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    response = click(build_handler())

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("no-billing-account")
    assert fake_stripe.calls() == []
    assert item(dynamodb, "new-user") is None


def test_stripe_down_on_the_first_click_stores_nothing_and_the_next_click_works(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    fake_stripe.fail_next(503, times=2, path_prefix="/v1/customers")  # the SDK retries once

    failed = click(handler)

    assert failed["statusCode"] == 503
    assert item(dynamodb, "new-user") is None
    retried = session_customer(fake_stripe, click(handler))
    assert list(fake_stripe.customers) == [retried]


def test_a_first_click_without_time_to_create_and_map_is_a_503_before_any_creation(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    # Creating, mapping and opening the session may take longer than 5 s when Stripe and
    # DynamoDB are slow: start none of it rather than end in the function's own timeout.
    response = build_handler()(event("home", claims=CLAIMS), LambdaContext(remaining_ms=5_000))

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"]
    assert fake_stripe.customers == {}
    assert item(dynamodb, "new-user") is None


def test_changed_claims_within_stripes_key_window_are_a_503_not_a_second_customer(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    first = session_customer(fake_stripe, click(handler))
    # As if storing the mapping had failed after Stripe created the customer.
    dynamodb.delete_item(TableName=DEMO_TABLE, Key={"user_id": {"S": "new-user"}})

    response = click(handler, {**CLAIMS, "email": "renamed@example.com"})

    assert response["statusCode"] == 503
    assert "Retry-After" in response["headers"]
    assert list(fake_stripe.customers) == [first]
    assert item(dynamodb, "new-user") is None


# --- Races --------------------------------------------------------------------------------


def race(handler: Any, fake_stripe: FakeStripe, clicks: int = 8) -> list[dict[str, Any]]:
    """`clicks` first clicks of one user at once, as threads through the real handler.

    Lambda would run them in separate containers; here they share one handler, which is fine
    because the events are identical. The stand-in's delay keeps every creation request in
    flight together, so all of them have read "no item" before any mapping is written.
    """
    start = threading.Barrier(clicks)
    fake_stripe.delay = 0.05

    def one(_: int) -> dict[str, Any]:
        start.wait()
        return click(handler)

    with ThreadPoolExecutor(clicks) as pool:
        return list(pool.map(one, range(clicks)))


def test_concurrent_first_clicks_end_at_one_customer_with_one_item(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    responses = race(build_handler(), fake_stripe)

    [customer] = fake_stripe.customers
    assert [session_customer(fake_stripe, r) for r in responses] == [customer] * 8
    items = dynamodb.scan(TableName=DEMO_TABLE, ConsistentRead=True)["Items"]
    assert items == [{"user_id": {"S": "new-user"}, "stripe_customer_id": {"S": customer}}]


def test_a_mapping_written_first_wins_over_a_later_one(dynamodb: Any) -> None:
    table = CustomerTable(dynamodb, DEMO_TABLE, "user_id", "stripe_customer_id")

    first = table.link("new-user", "cus_First")
    second = table.link("new-user", "cus_Second")

    assert (first.id, second.id) == ("cus_First", "cus_First")
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": "cus_First"},
    }


# --- Tables users already have ------------------------------------------------------------


@pytest.fixture
def custom_table(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[Any]:
    """A table keyed by account_id with the customer in billing_customer (template-built)."""
    monkeypatch.setenv("CUSTOMERS_TABLE_KEY", "account_id")
    monkeypatch.setenv("CUSTOMER_ID_ATTRIBUTE", "billing_customer")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, key="account_id")
        yield client


def test_custom_key_and_attribute_find_a_mapped_user(
    custom_table: Any, fake_stripe: FakeStripe
) -> None:
    customer = fake_stripe.add_customer(email="mapped@example.com")
    put_customer(custom_table, "new-user", customer, key="account_id", attribute="billing_customer")

    response = click(build_handler())

    assert session_customer(fake_stripe, response) == customer


def test_custom_key_and_attribute_store_a_created_customer(
    creating: None, custom_table: Any, fake_stripe: FakeStripe
) -> None:
    response = click(build_handler())

    [created] = fake_stripe.customers
    assert item(custom_table, "new-user", key="account_id") == {
        "account_id": {"S": "new-user"},
        "billing_customer": {"S": created},
    }
    assert session_customer(fake_stripe, response) == created


def test_creation_keeps_the_other_attributes_of_an_existing_users_item(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    dynamodb.put_item(
        TableName=DEMO_TABLE,
        Item={"user_id": {"S": "new-user"}, "plan": {"S": "team"}, "seats": {"N": "5"}},
    )

    response = click(build_handler())

    [created] = fake_stripe.customers
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "plan": {"S": "team"},
        "seats": {"N": "5"},
        "stripe_customer_id": {"S": created},
    }
    assert session_customer(fake_stripe, response) == created


# --- Deleted customers --------------------------------------------------------------------


def test_a_deleted_customer_is_a_404_saying_the_account_is_gone_and_is_not_replaced(
    creating: None,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customer = fake_stripe.add_customer(email="gone@example.com")
    put_customer(dynamodb, "new-user", customer)
    fake_stripe.delete_customer(customer)

    response = click(build_handler(), {"sub": "new-user", "email": "gone@example.com"})

    body = problem(response)
    assert response["statusCode"] == 404
    assert body["type"].endswith("no-billing-account")
    assert "no longer exists" in body["detail"]
    assert fake_stripe.calls("POST", "/v1/customers") == []
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "does not exist at Stripe" in warning.getMessage()
    assert not any("gone@example.com" in str(vars(r)) for r in caplog.records)


# --- The link tool ------------------------------------------------------------------------


def link(*args: str) -> int:
    return link_customer.main([*args, "--table", DEMO_TABLE])


def test_link_tool_maps_a_user_to_an_existing_customer(
    dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    customer = fake_stripe.add_customer(email="migrated@example.com")

    assert link("new-user", customer) == 0

    assert session_customer(fake_stripe, click(build_handler())) == customer


def test_link_tool_refuses_to_replace_another_customer_without_force(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_customer(dynamodb, "new-user", "cus_Current")

    assert link("new-user", "cus_Other") == 1

    assert "already linked to cus_Current" in capsys.readouterr().err
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": "cus_Current"},
    }
    assert link("new-user", "cus_Current") == 0  # linking again to the same one is fine


def test_link_tool_replaces_with_force_and_keeps_other_attributes(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamodb.put_item(
        TableName=DEMO_TABLE,
        Item={
            "user_id": {"S": "new-user"},
            "stripe_customer_id": {"S": "cus_Current"},
            "plan": {"S": "team"},
        },
    )

    assert link("new-user", "cus_Other", "--force") == 0

    assert "was cus_Current" in capsys.readouterr().out
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": "cus_Other"},
        "plan": {"S": "team"},
    }


def test_link_tool_uses_the_given_key_and_attribute(custom_table: Any) -> None:
    code = link("new-user", "cus_Custom", "--key", "account_id", "--attribute", "billing_customer")

    assert code == 0
    assert item(custom_table, "new-user", key="account_id") == {
        "account_id": {"S": "new-user"},
        "billing_customer": {"S": "cus_Custom"},
    }


@pytest.mark.parametrize("bad", ["new@example.com", "cus_", "sub_123", "cus_1; drop"])
def test_link_tool_rejects_what_is_not_a_customer_id(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        link("new-user", bad)

    assert exit_.value.code == 2
    assert "is not a customer id" in capsys.readouterr().err
    assert item(dynamodb, "new-user") is None


def link_fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the tool expecting failure; what it told the operator (stderr), checked for advice
    that does not fit: --force only when the user is linked elsewhere, never "the function"."""
    code = link_customer.main(["new-user", "cus_New", *args])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""  # one line on stderr, no JSON log lines
    assert "function" not in err
    return err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--table", "no-such-table"], "there is no table 'no-such-table' in us-east-1"),
        (["--table", DEMO_TABLE, "--key", "id"], "is keyed by 'user_id', not 'id'; pass --key"),
    ],
)
def test_link_tool_says_what_is_wrong_with_the_table_and_never_suggests_force(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    for extra in ([], ["--force"]):
        err = link_fails(capsys, *args, *extra)

        assert says in err
        assert "--force" not in err


def test_link_tool_says_when_access_is_denied(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with FailingDynamoDB(400, "AccessDeniedException") as denied:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", denied.url)
        err = link_fails(capsys, "--table", DEMO_TABLE)

    assert "access to table" in err
    assert "dynamodb:DescribeTable, GetItem and UpdateItem" in err
    assert "--force" not in err


def test_link_tool_says_when_dynamodb_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")  # discard: refused
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    assert "could not reach DynamoDB" in link_fails(capsys, "--table", DEMO_TABLE)


def test_link_tool_offers_force_for_an_item_that_holds_no_customer_id(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_customer(dynamodb, "new-user", "not-a-customer")

    err = link_fails(capsys, "--table", DEMO_TABLE)

    assert "that is not a customer id; pass --force" in err
    assert link("new-user", "cus_New", "--force") == 0
