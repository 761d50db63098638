"""The function's own botocore data (billing_portal/adapters/botocore_data/): what
tools/botocore_data.py writes from the botocore the tests run, and enough for every call the
function makes: the same request, signed the same way, to the same endpoint as with botocore's
full data, in every partition and in a region botocore has never heard of."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from unittest import mock

import boto3
import botocore.session
import pytest
from pydantic import SecretStr

from billing_portal import budget
from billing_portal.adapters import aws_session
from billing_portal.adapters.customer_table import CustomerTable
from billing_portal.adapters.stripe_key import StripeKey
from tools import botocore_data

NOW = datetime.datetime(2026, 12, 3, 9, 0, 0, tzinfo=datetime.UTC)
# Regions of each partition, and ones no botocore release lists yet (resolved by the
# partition's region pattern).
REGIONS = [
    "us-east-1",
    "eu-central-1",
    "ap-southeast-7",
    "us-gov-west-1",
    "cn-north-1",
    "us-iso-east-1",
    "eu-north-9",
    "us-gov-east-7",
]
# Differ on every request, whatever the data: the SDK's random invocation id.
VARYING = {"amz-sdk-invocation-id"}


class Captured(Exception):
    """Raised where the request would go out: nothing leaves the machine."""


@cache
def full_session() -> botocore.session.Session:
    """botocore's full data, with the function's per-call settings, so only the data differs.
    One per process: reading the full endpoints and models again costs ~0.5 s a test."""
    session = botocore.session.Session()
    session.set_default_client_config(aws_session.PER_CALL)
    return session


def sessions() -> dict[str, Callable[[], botocore.session.Session]]:
    return {"full": full_session, "ours": aws_session.session}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    # The signature covers the time: the same instant for both. awscrt, when installed, signs.
    now = lambda remove_tzinfo=True: NOW.replace(tzinfo=None) if remove_tzinfo else NOW  # noqa: E731
    with (
        mock.patch("botocore.auth.get_current_datetime", now),
        mock.patch("botocore.crt.auth.get_current_datetime", now),
    ):
        yield


def requests_made(session: botocore.session.Session, calls: Callable[[Any], None]) -> list[Any]:
    """The requests the calls send, as signed on the wire."""
    sent: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in VARYING}
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        sent.append(
            {"method": request.method, "url": request.url, "headers": headers, "body": body}
        )
        raise Captured

    session.register("before-send", capture)
    try:
        calls(session)
    finally:
        session.unregister("before-send", capture)
    return sent


def the_functions_calls(region: str) -> Callable[[botocore.session.Session], None]:
    def calls(session: botocore.session.Session) -> None:
        client = session.create_client(
            "dynamodb", region_name=region, config=budget.DYNAMODB.config
        )
        table = CustomerTable(client, "billing-portal-customers", "user_id", "stripe_customer_id")
        for call in (
            lambda: table.find("user-1"),
            lambda: table.link("user-1", "cus_A1"),
            lambda: table.relink("user-1", "cus_B2"),
        ):
            with pytest.raises(Captured):
                call()
        for name in ("/billing-portal/stripe-api-key", "secretsmanager:billing-portal/stripe"):
            with (
                mock.patch.dict("os.environ", {"AWS_DEFAULT_REGION": region}),
                pytest.raises(Exception),  # noqa: B017 - the store wraps Captured
            ):
                StripeKey(None, name, session)()

    return calls


@pytest.mark.parametrize("region", REGIONS)
def test_every_call_builds_and_signs_the_same_request_to_the_same_endpoint(region: str) -> None:
    full, ours = (
        requests_made(make(), the_functions_calls(region)) for make in sessions().values()
    )
    assert len(full) == 5
    assert ours == full
    if region.startswith("cn-"):
        assert full[0]["url"] == f"https://dynamodb.{region}.amazonaws.com.cn/"


@pytest.mark.parametrize(
    "options",
    [{"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}],
    ids=["fips", "dualstack"],
)
def test_fips_and_dualstack_endpoints_resolve_as_with_the_full_data(
    options: dict[str, Any],
) -> None:
    from botocore.config import Config

    for region in ("us-east-1", "us-gov-west-1", "eu-west-3"):
        urls = {
            name: make()
            .create_client("dynamodb", region_name=region, config=Config(**options))
            .meta.endpoint_url
            for name, make in sessions().items()
        }
        assert urls["ours"] == urls["full"], region


def test_the_function_reads_only_its_own_data() -> None:
    loader = aws_session.session().get_component("data_loader")
    assert loader.search_paths[0] == str(aws_session.DATA)
    assert all("botocore/data" not in path for path in loader.search_paths)
    assert sorted(loader.list_available_services("service-2")) == sorted(aws_session.CALLS)


def test_the_data_is_what_the_generator_writes_from_this_botocore() -> None:
    """After a botocore upgrade in uv.lock: `uv run python -m tools.botocore_data`."""
    expected = botocore_data.files()
    written = {
        str(path.relative_to(aws_session.DATA)): json.loads(path.read_text())
        for path in aws_session.DATA.rglob("*.json")
    }
    assert sorted(written) == sorted(expected)
    for name, value in expected.items():
        assert written[name] == json.loads(botocore_data.render(value)), name


def test_a_key_read_through_our_session_still_reaches_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/k", Value="sk_test_1", Type="SecureString")
        assert StripeKey(None, "/k", aws_session.session())() == "sk_test_1"
        assert StripeKey(SecretStr("sk_local"), None, aws_session.session())() == "sk_local"


def test_calls_name_the_function_in_their_user_agent() -> None:
    # What CloudTrail shows as the caller's userAgent for the function's AWS calls.
    sent = requests_made(aws_session.session(), the_functions_calls("us-east-1"))

    assert {request["headers"]["User-Agent"].split()[0] for request in sent} == {b"billing-portal"}
