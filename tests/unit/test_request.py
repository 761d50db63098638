"""What a caller may ask for: parameters alone, and the rules about which go together."""

from __future__ import annotations

from typing import Any

import pytest

from billing_portal.domain.request import portal_request
from billing_portal.errors import InvalidParameter

ALLOWED = frozenset({"https://app.example.com", "http://localhost:3000"})
DONE = "https://app.example.com/done"
CONFIRM = "subscription_update_confirm"


def rejected(raw: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(InvalidParameter) as caught:
        portal_request(raw, ALLOWED)
    assert caught.value.errors is not None
    return caught.value.errors


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"locale": "pt-BR", "return_url": "http://localhost:3000/billing"},
        {"flow": "customer_update", "after_completion": "portal_homepage"},
        {"flow": "payment_method_update", "after_completion": "redirect"},
        {
            "flow": "payment_method_update",
            "after_completion": "redirect",
            "after_completion_url": DONE,
        },
        {"flow": "subscription_pause", "subscription": "sub_1AbC"},
        {"flow": CONFIRM, "price": "price_Pro2"},
        {"flow": CONFIRM, "quantity": "3", "subscription": "sub_1"},
    ],
)
def test_parameters_that_go_together_are_accepted_as_given(raw: dict[str, Any]) -> None:
    request = portal_request(raw, ALLOWED)

    given = request.model_dump(exclude_none=True)
    assert given == {k: (int(v) if k == "quantity" else v) for k, v in raw.items()}


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"after_completion": "redirect", "after_completion_url": DONE}, ["after_completion"]),
        ({"flow": "customer_update", "after_completion_url": DONE}, ["after_completion_url"]),
        ({"flow": "customer_update", "subscription": "sub_1"}, ["subscription"]),
        (
            {"flow": "subscription_pause", "price": "price_1", "quantity": "2"},
            ["price", "quantity"],
        ),
        ({"flow": CONFIRM}, ["price"]),
        ({"flow": CONFIRM, "subscription": "sub_1"}, ["price"]),
        (
            {"price": "price_1", "after_completion": "hosted_confirmation"},
            ["after_completion", "price"],
        ),
        ({"after_completion": "portal_homepage"}, ["after_completion"]),
        ({"subscription": "sub_1"}, ["subscription"]),
        (
            {
                "flow": "payment_method_update",
                "after_completion": "hosted_confirmation",
                "after_completion_url": DONE,
            },
            ["after_completion_url"],
        ),
        ({"flow": "subscription_update", "price": "price_pro"}, ["price"]),
        ({"flow": "subscription_cancel", "quantity": "2"}, ["quantity"]),
        ({"flow": "subscription_explode"}, ["flow"]),
        ({"flow": "payment_method_update", "after_completion": "elsewhere"}, ["after_completion"]),
    ],
)
def test_parameters_out_of_place_are_each_named(raw: dict[str, Any], named: list[str]) -> None:
    errors = rejected(raw)

    assert [e["parameter"] for e in errors] == named
    assert all(e["detail"] for e in errors)


def test_every_bad_parameter_is_listed_with_its_own_reason() -> None:
    errors = rejected(
        {
            "customer": "cus_attacker",
            "flow": CONFIRM,
            "quantity": "3.5",
            "return_url": "https://evil.example/",
            "utm_source": "mail",
        }
    )

    by_name = {e["parameter"]: e["detail"] for e in errors}
    assert set(by_name) == {"customer", "quantity", "return_url", "utm_source"}
    assert by_name["customer"] == "is set by the server, never by the caller"
    assert by_name["utm_source"] == "is not a known parameter"
    assert "whole number" in by_name["quantity"]
    assert "ALLOWED_ORIGINS" in by_name["return_url"]


@pytest.mark.parametrize("value", ["x", {"coupon": "FREE100"}])  # a form's, or a JSON object
def test_nothing_the_server_chooses_can_come_from_the_caller(value: object) -> None:
    server_chosen = {
        "configuration", "coupon", "customer", "customer_account", "discounts", "flow_data",
        "on_behalf_of", "promotion_code", "retention",
    }  # fmt: skip

    errors = rejected(dict.fromkeys(server_chosen, value))

    assert {e["parameter"] for e in errors} == server_chosen
    assert {e["detail"] for e in errors} == {"is set by the server, never by the caller"}


@pytest.mark.parametrize("name", ["Customer", "customer_email", "success_url", "customer[id]"])
def test_other_unknown_parameters_are_not_known(name: str) -> None:
    assert rejected({name: "x"}) == [{"parameter": name, "detail": "is not a known parameter"}]


@pytest.mark.parametrize(("value", "quantity"), [("3", 3), (3, 3), ("1", 1), ("10000", 10000)])
def test_a_whole_quantity_is_taken(value: object, quantity: int) -> None:
    assert portal_request({"flow": CONFIRM, "quantity": value}, ALLOWED).quantity == quantity


@pytest.mark.parametrize(
    "value",
    [
        *("3.5", " 3", "3 ", "3\n", "+3", "\u0663", "", "abc", "1e3", "3.0", "0", "10001", "-1"),
        *(True, False, 3.0, 3.5, 0, 10001, -1, [3], {"n": 3}),  # as a JSON body may send them
    ],
)
def test_anything_else_is_not_a_quantity(value: object) -> None:
    assert [e["parameter"] for e in rejected({"flow": CONFIRM, "quantity": value})] == ["quantity"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("subscription", "sub_1\n"),  # a Python `$` would let the newline through
        ("subscription", "sub_1&customer=cus_2"),
        ("subscription", "sub_"),
        ("subscription", "sub_abc-def"),
        ("subscription", "sub_abc/../../v1/customers"),
        ("subscription", "cus_123"),
        ("subscription", "SUB_abc"),
        ("subscription", "sub_\u00e4"),
        ("price", "price_"),
        ("price", "prod_123"),
        ("price", "price_abc def"),
        ("price", "plan_basic"),
        ("price", "price_1\n"),
        ("price", "price_" + "a" * 250),
        ("locale", "EN"),
        ("flow", ["subscription_cancel"]),
        ("after_completion_url", "https://evil.example/"),
    ],
)
def test_malformed_values_are_named(name: str, value: object) -> None:
    raw = {"flow": CONFIRM, "price": "price_1", "after_completion": "redirect", name: value}

    assert [e["parameter"] for e in rejected(raw)] == [name]


def test_the_message_names_the_parameters_in_order() -> None:
    with pytest.raises(InvalidParameter) as caught:
        portal_request({"zeta": "1", "after_completion": "x", "alpha": "2"}, ALLOWED)

    assert caught.value.detail == "Invalid request parameter(s): after_completion, alpha, zeta."
    assert caught.value.status == 400
