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
from testing.metrics import metrics_emitted
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


def click(handler: Any, claims: dict[str, Any] = CLAIMS, query: str = "") -> dict[str, Any]:
    result: dict[str, Any] = handler(event("home", claims=claims, query=query), LambdaContext())
    return result


def creations(fake_stripe: FakeStripe) -> list[Any]:
    """The customer creations Stripe received (not the updates of /v1/customers/{id})."""
    return [call for call in fake_stripe.calls("POST") if call.path == "/v1/customers"]


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

    [call] = creations(fake_stripe)
    key = call.headers["idempotency-key"]
    assert key.startswith("billing-portal-customer-")
    assert "new-user" not in key
    # Only what is fixed for the user key: the claims follow in an update.
    assert call.params == {"metadata": {"user_key": "new-user", "customers_table": DEMO_TABLE}}


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
    assert len(creations(fake_stripe)) == 1


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


def test_a_failed_mapping_write_then_a_click_with_other_claims_reaches_the_same_customer(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    first = session_customer(fake_stripe, click(handler))
    # As if storing the mapping had failed after Stripe created the customer.
    dynamodb.delete_item(TableName=DEMO_TABLE, Key={"user_id": {"S": "new-user"}})

    response = click(handler, {**CLAIMS, "email": "renamed@example.com", "name": "Renamed"})

    assert session_customer(fake_stripe, response) == first
    assert list(fake_stripe.customers) == [first]
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": first},
    }
    customer = fake_stripe.customers[first]
    assert (customer["email"], customer["name"]) == ("renamed@example.com", "Renamed")


def test_a_failed_profile_update_never_fails_the_click(
    creating: None,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_stripe.fail_next(500, times=3, path_prefix="/v1/customers/")  # every try of the update

    response = click(build_handler())

    [created] = fake_stripe.customers
    assert session_customer(fake_stripe, response) == created
    assert fake_stripe.customers[created]["name"] is None
    assert item(dynamodb, "new-user") is not None
    [warning] = [r for r in caplog.records if "name and email were not set" in r.getMessage()]
    assert warning.levelname == "WARNING"


# --- Races --------------------------------------------------------------------------------


def race(
    handler: Any,
    fake_stripe: FakeStripe,
    clicks: int = 8,
    claims: tuple[dict[str, Any], ...] = (CLAIMS,),
) -> list[dict[str, Any]]:
    """`clicks` first clicks of one user at once, as threads through the real handler, with
    `claims` in turn (two devices' tokens may carry different names).

    Lambda would run them in separate containers; here they share one handler, which is fine
    because each event carries its own claims. The stand-in's delay keeps every creation request
    in flight together, so all of them have read "no item" before any mapping is written.
    """
    start = threading.Barrier(clicks)
    fake_stripe.delay = 0.05

    def one(n: int) -> dict[str, Any]:
        start.wait()
        return click(handler, claims[n % len(claims)])

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


def test_racing_first_clicks_with_two_names_all_reach_one_customer_and_none_waits(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    renamed = {**CLAIMS, "name": "New User (renamed)", "email": "renamed@example.com"}

    responses = race(build_handler(), fake_stripe, clicks=4, claims=(CLAIMS, renamed))

    [customer] = fake_stripe.customers
    assert [r["statusCode"] for r in responses] == [303] * 4
    assert [session_customer(fake_stripe, r) for r in responses] == [customer] * 4
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": customer},
    }
    assert fake_stripe.customers[customer]["name"] in ("New User", "New User (renamed)")


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


# What each case must show: the answer, the one MissingCustomers outcome, the item, and Stripe's
# customers (testing/metrics.py reads the metrics a handler printed).


def missing_outcomes(capfd: pytest.CaptureFixture[str]) -> list[str]:
    return [m["outcome"] for m in metrics_emitted(capfd) if m["name"] == "MissingCustomers"]


@pytest.fixture
def deleted(dynamodb: Any, fake_stripe: FakeStripe) -> str:
    """The user's mapped customer, deleted in Stripe's Dashboard."""
    customer = fake_stripe.add_customer(email="gone@example.com")
    put_customer(dynamodb, "new-user", customer)
    fake_stripe.delete_customer(customer)
    return customer


def test_a_deleted_customer_is_replaced_as_on_a_first_click_when_creation_is_on(
    creating: None,
    deleted: str,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    response = click(build_handler())

    [new] = [c for c in fake_stripe.customers if c != deleted]
    assert session_customer(fake_stripe, response) == new
    assert fake_stripe.customers[deleted]["deleted"] is True
    assert fake_stripe.customers[new]["metadata"] == {
        "user_key": "new-user",
        "customers_table": DEMO_TABLE,
        "replaces": deleted,
    }
    assert fake_stripe.customers[new]["email"] == "new@example.com"
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": new},
    }
    assert missing_outcomes(capfd) == ["replaced"]


def test_a_replacement_is_never_a_replay_of_the_users_first_creation(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    handler = build_handler()
    first = session_customer(fake_stripe, click(handler))
    fake_stripe.delete_customer(first)  # within Stripe's 24 hours of the first creation

    second = session_customer(fake_stripe, click(handler))

    assert second != first
    keys = [call.headers["idempotency-key"] for call in creations(fake_stripe)]
    assert len(set(keys)) == 2


def test_racing_clicks_after_a_deletion_make_one_new_customer(
    creating: None,
    deleted: str,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    responses = race(build_handler(), fake_stripe, clicks=4)

    [new] = [c for c in fake_stripe.customers if c != deleted]
    assert [session_customer(fake_stripe, r) for r in responses] == [new] * 4
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": new},
    }
    assert missing_outcomes(capfd) == ["replaced"] * 4


def test_a_deleted_customer_without_creation_is_a_404_and_the_item_stays(
    env: dict[str, str],
    deleted: str,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for query in ("", "flow=subscription_cancel"):  # the session, or the subscription lookup
        response = click(build_handler(), {"sub": "new-user", "email": "gone@example.com"}, query)

        body = problem(response)
        assert response["statusCode"] == 404
        assert body["type"].endswith("no-billing-account")
        assert "no longer exists" in body["detail"]
    assert creations(fake_stripe) == []
    assert list(fake_stripe.customers) == [deleted]
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": deleted},
    }
    assert missing_outcomes(capfd) == ["deleted", "deleted"]


def test_a_deleted_customer_in_a_flows_subscription_lookup_is_replaced_too(
    creating: None,
    deleted: str,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    response = click(build_handler(), query="flow=subscription_cancel")

    # The new customer has no subscription to cancel yet: the flow's own 404, not an account's.
    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("no-such-subscription")
    [new] = [c for c in fake_stripe.customers if c != deleted]
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": new},
    }
    assert missing_outcomes(capfd) == ["replaced"]


def test_a_customer_stripe_never_had_is_a_500_for_the_operator_and_never_replaced(
    creating: None,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    put_customer(dynamodb, "new-user", "cus_FromAnotherAccount")

    response = click(build_handler())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("server-misconfigured")
    assert fake_stripe.customers == {}
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": "cus_FromAnotherAccount"},
    }
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "not in this Stripe account" in error.getMessage()
    metrics = metrics_emitted(capfd)
    assert {"name": "Misconfigurations", "service": "billing-portal"} in metrics  # the alarm's
    assert [m["outcome"] for m in metrics if m["name"] == "MissingCustomers"] == ["not-in-account"]


def test_a_customer_of_the_other_mode_is_a_500_without_a_second_look(
    creating: None,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    live = fake_stripe.add_customer(livemode=True)
    put_customer(dynamodb, "new-user", live)

    response = click(build_handler())

    assert response["statusCode"] == 500
    assert fake_stripe.calls("GET", "/v1/customers") == []
    assert list(fake_stripe.customers) == [live]
    assert item(dynamodb, "new-user") == {
        "user_id": {"S": "new-user"},
        "stripe_customer_id": {"S": live},
    }
    assert missing_outcomes(capfd) == []


def test_a_customer_stripe_finds_on_a_second_look_is_a_503_to_retry(
    creating: None,
    customer: str,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Stripe's replication raced us: "No such customer" for a customer it then returns alive.
    fake_stripe.fail_next(
        400,
        path_prefix="/v1/billing_portal/sessions",
        message=f"No such customer: '{customer}'",
        code="resource_missing",
        param="customer",
    )

    response = click(build_handler(), {"sub": "demo-user"})

    assert response["statusCode"] == 503
    assert problem(response)["type"].endswith("upstream-unavailable")
    assert response["headers"]["Retry-After"]
    assert creations(fake_stripe) == []
    assert item(dynamodb, "demo-user") == {
        "user_id": {"S": "demo-user"},
        "stripe_customer_id": {"S": customer},
    }
    assert missing_outcomes(capfd) == ["alive"]
    assert session_customer(fake_stripe, click(build_handler(), {"sub": "demo-user"})) == customer


def test_an_accounts_v2_item_stripe_does_not_know_is_a_404_without_a_look(
    creating: None, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    put_customer(dynamodb, "new-user", "acct_Unknown")

    response = click(build_handler())

    assert response["statusCode"] == 404
    assert problem(response)["type"].endswith("no-billing-account")
    assert fake_stripe.calls("GET", "/v1/customers") == []
    assert creations(fake_stripe) == []


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
