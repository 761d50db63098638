"""Team billing: the user key can be an organisation claim (a name, or a path into nested
claims), every member reaches the team's one customer, and with BILLING_ROLES only members
whose role claim holds one of them get in, refused before any DynamoDB or Stripe call.

Each identity provider's token shape is tried in the auth modes that can carry it: as API
Gateway's JWT authorizer passes claims on (every value a string, arrays as "[a b]"), and as a
token the function verifies itself (real lists and objects).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import build_handler, problem, session_customer
from testing.harness import DEMO_TABLE, ROOT, LambdaContext
from testing.jwks_server import Issuer
from tools.cfn import Stack

TEAM = "org_2abc"


def team_env(
    monkeypatch: pytest.MonkeyPatch, key: str, role_claim: str | None, roles: str | None
) -> None:
    monkeypatch.setenv("USER_ID_CLAIM", key)
    for name, value in (("BILLING_ROLE_CLAIM", role_claim), ("BILLING_ROLES", roles)):
        if value is not None:
            monkeypatch.setenv(name, value)


@pytest.fixture
def team_customer(dynamodb: Any, fake_stripe: FakeStripe) -> str:
    customer = fake_stripe.add_customer(email="billing@acme.example")
    dynamodb.put_item(
        TableName=DEMO_TABLE,
        Item={"user_id": {"S": TEAM}, "stripe_customer_id": {"S": customer}},
    )
    return customer


# --- Through API Gateway's JWT authorizer (claims as it passes them on) ---------------------

# provider: (USER_ID_CLAIM, BILLING_ROLE_CLAIM, BILLING_ROLES, an admin's claims, a member's)
AUTHORIZER_SHAPES: dict[str, tuple[str, str, str, dict[str, str], dict[str, str]]] = {
    "Auth0 Organizations (namespaced roles claim, an array)": (
        "org_id",
        "https://example.com/roles",
        "billing-admin",
        {"org_id": TEAM, "https://example.com/roles": "[billing-admin member]"},
        {"org_id": TEAM, "https://example.com/roles": "[member]"},
    ),
    "WorkOS (org_id, role)": (
        "org_id",
        "role",
        "admin",
        {"org_id": TEAM, "role": "admin"},
        {"org_id": TEAM, "role": "member"},
    ),
    "Cognito (custom attribute as key, groups)": (
        "custom:team_id",
        "cognito:groups",
        "billing-admins",
        {"custom:team_id": TEAM, "cognito:groups": "[developers billing-admins]"},
        {"custom:team_id": TEAM, "cognito:groups": "[developers]"},
    ),
    "Entra ID (tenant, app roles)": (
        "tid",
        "roles",
        "Billing.Admin",
        {"tid": TEAM, "roles": "[Billing.Admin]"},
        {"tid": TEAM, "roles": "[Reader]"},
    ),
    "OAuth scope string": (
        "org_id",
        "scope",
        "billing:manage",
        {"org_id": TEAM, "scope": "openid profile billing:manage"},
        {"org_id": TEAM, "scope": "openid profile"},
    ),
}


@pytest.mark.parametrize("provider", list(AUTHORIZER_SHAPES))
def test_through_the_authorizer_admins_reach_the_team_customer_and_members_are_refused(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    session: botocore.session.Session,
    dynamodb_calls: list[str],
    team_customer: str,
    fake_stripe: FakeStripe,
    provider: str,
) -> None:
    key, role_claim, roles, admin, member = AUTHORIZER_SHAPES[provider]
    team_env(monkeypatch, key, role_claim, roles)
    handler = build_handler(session=session)

    admins = [
        handler(event("home", claims={"sub": sub, **admin}), LambdaContext())
        for sub in ("admin-1", "admin-2")
    ]
    calls_before = (list(dynamodb_calls), len(fake_stripe.calls()))
    refused = handler(event("home", claims={"sub": "member-1", **member}), LambdaContext())

    assert {session_customer(fake_stripe, r) for r in admins} == {team_customer}
    assert refused["statusCode"] == 403
    assert problem(refused)["type"].endswith("/forbidden-role")
    assert (dynamodb_calls, len(fake_stripe.calls())) == calls_before  # nothing more was called


def test_a_path_through_an_object_the_authorizer_flattened_is_a_401_that_says_why(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], team_customer: str
) -> None:
    # Clerk's organisation claims are an object; the authorizer passes Go's text form on.
    team_env(monkeypatch, "o.id", "o.rol", "admin")
    claims = {"sub": "user_1", "o": f"map[id:{TEAM} rol:admin slg:acme]"}

    response = build_handler()(event("home", claims=claims), LambdaContext())

    assert response["statusCode"] == 401
    assert "verify tokens in the function or emit a flat claim" in problem(response)["detail"]


# --- Tokens the function verifies (claims as the provider wrote them) -------------------------

# provider: (USER_ID_CLAIM, BILLING_ROLE_CLAIM, BILLING_ROLES, an admin's claims, a member's)
TOKEN_SHAPES: dict[str, tuple[str, str, str, dict[str, Any], dict[str, Any]]] = {
    "Clerk organisations (nested o.id, o.rol)": (
        "o.id",
        "o.rol",
        "admin",
        {"o": {"id": TEAM, "rol": "admin", "slg": "acme"}},
        {"o": {"id": TEAM, "rol": "member", "slg": "acme"}},
    ),
    "Keycloak (realm_access.roles)": (
        "tenant",
        "realm_access.roles",
        "billing-admin",
        {"tenant": TEAM, "realm_access": {"roles": ["offline_access", "billing-admin"]}},
        {"tenant": TEAM, "realm_access": {"roles": ["offline_access"]}},
    ),
    "Auth0 Organizations (namespaced roles claim, a list)": (
        "org_id",
        "https://example.com/roles",
        "billing-admin",
        {"org_id": TEAM, "https://example.com/roles": ["billing-admin"]},
        {"org_id": TEAM, "https://example.com/roles": []},
    ),
    "A namespaced key that contains dots": (
        "https://example.com/org_id",
        "https://example.com/roles",
        "owner",
        {"https://example.com/org_id": TEAM, "https://example.com/roles": ["owner"]},
        {"https://example.com/org_id": TEAM, "https://example.com/roles": ["viewer"]},
    ),
}


@pytest.mark.parametrize("provider", list(TOKEN_SHAPES))
def test_verified_tokens_admins_reach_the_team_customer_and_members_are_refused(
    monkeypatch: pytest.MonkeyPatch,
    verified_tokens: Issuer,
    session: botocore.session.Session,
    dynamodb_calls: list[str],
    team_customer: str,
    fake_stripe: FakeStripe,
    provider: str,
) -> None:
    key, role_claim, roles, admin, member = TOKEN_SHAPES[provider]
    team_env(monkeypatch, key, role_claim, roles)
    handler = build_handler(session=session)

    def click(claims: dict[str, Any], sub: str) -> dict[str, Any]:
        token = verified_tokens.token(verified_tokens.claims(sub=sub, **claims))
        data = event("no-identity", headers={"authorization": f"Bearer {token}"})
        response: dict[str, Any] = handler(data, LambdaContext())
        return response

    admins = [click(admin, "admin-1"), click(admin, "admin-2")]
    calls_before = (list(dynamodb_calls), len(fake_stripe.calls()))
    refused = click(member, "member-1")

    assert {session_customer(fake_stripe, r) for r in admins} == {team_customer}
    assert refused["statusCode"] == 403
    assert (dynamodb_calls, len(fake_stripe.calls())) == calls_before


# --- The team's first click, and settings -----------------------------------------------------


def test_an_admins_first_click_creates_the_teams_customer_which_the_next_admin_reaches(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    team_env(monkeypatch, "org_id", "role", "admin")
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")
    handler = build_handler()
    admin = {"org_id": TEAM, "role": "admin", "email": "first-admin@acme.example"}

    first = handler(event("home", claims={"sub": "admin-1", **admin}), LambdaContext())
    second = handler(event("home", claims={"sub": "admin-2", **admin}), LambdaContext())

    [customer] = fake_stripe.customers.values()
    assert customer["metadata"] == {"user_key": TEAM, "customers_table": DEMO_TABLE}
    assert session_customer(fake_stripe, first) == session_customer(fake_stripe, second)
    assert session_customer(fake_stripe, first) == customer["id"]


def test_roles_without_the_claim_that_holds_them_is_a_500_for_the_operator(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any
) -> None:
    monkeypatch.setenv("BILLING_ROLES", "admin")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")


def test_without_billing_roles_every_member_gets_in(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    team_customer: str,
    fake_stripe: FakeStripe,
) -> None:
    team_env(monkeypatch, "org_id", None, None)
    claims = {"sub": "member-1", "org_id": TEAM}

    response = build_handler()(event("home", claims=claims), LambdaContext())

    assert session_customer(fake_stripe, response) == team_customer


# --- Roles match whole, read by where the claims came from -----------------------------------

ADMIN_ROLE = "Admin"
# (where the claims come from, BILLING_ROLE_CLAIM, its value): none of these holds the role
# "Admin" whole, and every one of them passed while roles were split on any whitespace.
ROLE_SPOOFS: list[tuple[str, str, Any]] = [
    ("token", "roles", "Support Admin"),  # one role whose name has a space
    ("token", "roles", "[Admin]"),  # brackets mean nothing in a verified token
    ("token", "roles", "Support\u00a0Admin"),  # no-break space
    ("token", "roles", "Support\x1cAdmin"),  # a separator str.split() also splits on
    ("token", "scope", "openid\u2003Admin"),  # em space: scope splits on ASCII spaces only
    ("authorizer", "roles", "Support Admin"),  # not the "[a b]" form: one role
    ("authorizer", "roles", "[Support\u00a0Admin]"),
    ("authorizer", "roles", "[Support\x1cAdmin]"),
    ("authorizer", "scp", "openid\u2003Admin"),
]
# ... and these do hold it.
ROLE_GRANTS: list[tuple[str, str, Any]] = [
    ("token", "roles", ["Support Admin", "Admin"]),
    ("token", "roles", "Admin"),
    ("token", "scope", "openid  Admin"),
    ("token", "scp", "Admin"),
    ("authorizer", "roles", "[member Admin]"),  # API Gateway's text for ["member", "Admin"]
    ("authorizer", "roles", "Admin"),
    ("authorizer", "scope", "openid Admin"),
]


def role_click(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    role_claim: str,
    value: Any,
) -> dict[str, Any]:
    """One request of the demo user whose `role_claim` is `value`, gated on the role Admin: its
    claims passed on by API Gateway's authorizer, or in a token the function verifies."""
    team_env(monkeypatch, "sub", role_claim, ADMIN_ROLE)
    claims = {"sub": "demo-user", role_claim: value}
    if source == "authorizer":
        return build_handler()(event("home", claims=claims), LambdaContext())
    issuer: Issuer = request.getfixturevalue("verified_tokens")
    token = issuer.token(issuer.claims(**claims))
    data = event("no-identity", headers={"authorization": f"Bearer {token}"})
    response: dict[str, Any] = build_handler()(data, LambdaContext())
    return response


@pytest.mark.parametrize(("source", "role_claim", "value"), ROLE_SPOOFS)
def test_a_role_matches_only_whole(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    customer: str,
    fake_stripe: FakeStripe,
    source: str,
    role_claim: str,
    value: Any,
) -> None:
    response = role_click(request, monkeypatch, source, role_claim, value)

    assert response["statusCode"] == 403
    assert problem(response)["type"].endswith("/forbidden-role")
    assert fake_stripe.calls() == []


@pytest.mark.parametrize(("source", "role_claim", "value"), ROLE_GRANTS)
def test_a_role_held_whole_gets_in(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    customer: str,
    fake_stripe: FakeStripe,
    source: str,
    role_claim: str,
    value: Any,
) -> None:
    response = role_click(request, monkeypatch, source, role_claim, value)

    assert session_customer(fake_stripe, response) == customer


@pytest.mark.parametrize(
    "gate",
    [
        {"BILLING_ROLE_CLAIM": "role", "BILLING_ROLES": ","},  # names no role
        {"BILLING_ROLE_CLAIM": "role", "BILLING_ROLES": " , ,"},
        {"BILLING_ROLE_CLAIM": "role"},  # a claim and no roles
    ],
)
def test_a_half_configured_gate_is_a_500_never_an_open_door(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    customer: str,
    fake_stripe: FakeStripe,
    gate: dict[str, str],
) -> None:
    for name, value in gate.items():
        monkeypatch.setenv(name, value)
    claims = {"sub": "demo-user", "role": "member"}

    response = build_handler()(event("home", claims=claims), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")
    assert fake_stripe.calls() == []


def test_the_cognito_recipe_warns_that_a_custom_team_key_must_not_be_writable() -> None:
    # A Cognito user can rewrite their own writable attributes with their access token: the docs
    # that tell operators to key teams by custom:team_id must say to make it read-only.
    text = (ROOT / "docs" / "authentication.md").read_text()
    cognito = text[text.index("## Cognito user pool example") :]

    assert "custom:team_id" in cognito
    assert "write permissions" in cognito


# --- The template's team billing parameters ------------------------------------------------


def test_team_billing_parameters_reach_the_function() -> None:
    stack = Stack(BillingRoleClaim="cognito:groups", BillingRoles="billing-admins")

    assert stack.settings()["BILLING_ROLE_CLAIM"] == "cognito:groups"
    assert stack.settings()["BILLING_ROLES"] == "billing-admins"
    assert Stack().settings()["BILLING_ROLES"] == ""  # empty = unset: everyone with a token


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"BillingRoles": "billing-admin"}, "RolesNeedRoleClaim"),
        ({"BillingRoleClaim": "roles"}, "RoleClaimNeedsRoles"),
    ],
)
def test_half_a_role_gate_is_refused_before_anything_is_created(
    overrides: dict[str, str], rule: str
) -> None:
    assert Stack(**overrides).rule_failures() == [rule]
