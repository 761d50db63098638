"""The customers table's item: ids of the right shape only, whole values only."""

from __future__ import annotations

import pytest

from billing_portal.domain.customer import Customer, invalid_field, is_customer_id


@pytest.mark.parametrize(
    "customer",
    [
        Customer("cus_NffrFeUfNV2Hib"),
        Customer("acct_1"),
        Customer("cus_1", configuration="bpc_1Abc"),
        Customer("acct_1", configuration="bpc_1", on_behalf_of="acct_Seller9"),
    ],
)
def test_well_formed_items_pass(customer: Customer) -> None:
    assert invalid_field(customer) is None


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        (Customer("cus_X\n"), "id"),
        (Customer("cus_X&customer=cus_Y"), "id"),
        (Customer("cus_"), "id"),
        (Customer("CUS_1"), "id"),
        (Customer(" cus_1"), "id"),
        (Customer("sub_1"), "id"),
        (Customer(""), "id"),
        (Customer("cus_1", configuration="bpc_"), "configuration"),
        (Customer("cus_1", configuration="bpc_1\n"), "configuration"),
        (Customer("cus_1", configuration="cus_1"), "configuration"),
        (Customer("cus_1", on_behalf_of="cus_2"), "on_behalf_of"),
        (Customer("cus_1", on_behalf_of="acct_"), "on_behalf_of"),
        (Customer("cus_1", on_behalf_of="acct_1/../x"), "on_behalf_of"),
        # The first bad field is the one named.
        (Customer("bad", configuration="bad", on_behalf_of="bad"), "id"),
        (Customer("cus_1", configuration="bad", on_behalf_of="bad"), "configuration"),
    ],
)
def test_a_malformed_field_is_named_with_what_it_must_hold(customer: Customer, field: str) -> None:
    result = invalid_field(customer)

    assert result is not None
    named, expected = result
    assert named == field
    assert expected.startswith(("a ", "an "))


@pytest.mark.parametrize(
    ("value", "valid"),
    [("cus_1", True), ("acct_1", True), ("cus_1\n", False), ("acct_", False), ("bpc_1", False)],
)
def test_customer_ids_are_whole_cus_or_acct_ids(value: str, valid: bool) -> None:
    assert is_customer_id(value) is valid


@pytest.mark.parametrize(
    ("customer_id", "param"),
    [("cus_1", "customer"), ("acct_1", "customer_account"), ("cus_acct_1", "customer")],
)
def test_accounts_v2_customers_are_named_by_customer_account(customer_id: str, param: str) -> None:
    assert Customer(customer_id).param == param
