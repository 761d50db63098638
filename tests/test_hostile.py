"""What a user can change or send never picks another account, breaks a request or trips an
alarm: keys the user can edit (unverified emails, under any claim name) and keys no table can
hold, oversized and deeply nested bodies, table items with trailing junk, profiles Stripe would
refuse or an email never proved; and what every answer and log line keeps out (MIME sniffing,
what Stripe echoes of a refused value).

Real v2 events through the real handler, moto for DynamoDB, the Stripe stand-in over HTTP.
Hostile return URLs (dot segments among them) are a rule table in tests/unit/test_origins.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

import pytest

from testing.events import event
from testing.fake_stripe import FakeStripe
from testing.handler import Invoke, build_handler, problem
from testing.harness import DEMO_TABLE, LambdaContext
from testing.jwks_server import Issuer
from testing.metrics import metrics_emitted

SESSIONS = "/v1/billing_portal/sessions"
EMAIL_KEYED = {"sub": "x", "email": "victim@example.com"}
WS_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


def post(invoke: Invoke, body: str, content_type: str, **changes: Any) -> dict[str, Any]:
    return invoke("form-post", headers={"content-type": content_type}, body=body, **changes)


# --- 1. a user key the user can change ------------------------------------------------------


@pytest.fixture
def email_keyed(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any) -> Any:
    monkeypatch.setenv("USER_ID_CLAIM", "email")
    return build_handler()


@pytest.mark.parametrize("verified", [None, False, "false", "yes", 1])
def test_an_unverified_email_key_is_a_401_and_reaches_nothing(
    email_keyed: Any, fake_stripe: FakeStripe, verified: object
) -> None:
    claims = {**EMAIL_KEYED, **({} if verified is None else {"email_verified": verified})}

    response = email_keyed(event("home", claims=claims), LambdaContext())

    assert response["statusCode"] == 401
    assert "not verified" in problem(response)["detail"]
    assert fake_stripe.calls() == []


@pytest.mark.parametrize("verified", [True, "true"])
def test_a_verified_email_key_reaches_its_customer(
    email_keyed: Any, dynamodb: Any, fake_stripe: FakeStripe, verified: object
) -> None:
    customer = fake_stripe.add_customer()
    dynamodb.put_item(
        TableName=DEMO_TABLE,
        Item={"user_id": {"S": "victim@example.com"}, "stripe_customer_id": {"S": customer}},
    )
    claims = {**EMAIL_KEYED, "email_verified": verified}

    response = email_keyed(event("home", claims=claims), LambdaContext())

    assert response["statusCode"] == 303


# A key the user can edit, under another name: its own "<name>_verified" claim decides when the
# claims hold one, else email_verified / phone_number_verified. (USER_ID_CLAIM, claims): each
# would reach the victim's customer, keyed "victim@example.com", if the key were taken as is.
EDITABLE_KEYS: list[tuple[str, dict[str, Any]]] = [
    ("https://example.com/email", {"https://example.com/email": "victim@example.com"}),
    (
        "https://example.com/email",
        {"https://example.com/email": "victim@example.com", "email_verified": False},
    ),
    (
        "https://example.com/email",  # its own claim wins over email_verified
        {
            "https://example.com/email": "victim@example.com",
            "https://example.com/email_verified": False,
            "email_verified": True,
        },
    ),
    ("user.email", {"user": {"email": "victim@example.com", "email_verified": "false"}}),
    ("user.email", {"user": {"email": "victim@example.com"}, "email_verified": False}),
    ("Email", {"Email": "victim@example.com", "email_verified": False}),
    ("phone_number", {"phone_number": "victim@example.com", "phone_number_verified": False}),
    (WS_EMAIL, {WS_EMAIL: "victim@example.com"}),  # WS-Federation's (AD FS, Entra ID)
    (
        "https://example.com/phone_number",
        {"https://example.com/phone_number": "victim@example.com"},
    ),
]
VERIFIED_KEYS: list[tuple[str, dict[str, Any]]] = [
    (
        "https://example.com/email",
        {"https://example.com/email": "victim@example.com", "email_verified": True},
    ),
    (
        "https://example.com/email",
        {
            "https://example.com/email": "victim@example.com",
            "https://example.com/email_verified": "true",
        },
    ),
    ("user.email", {"user": {"email": "victim@example.com", "email_verified": True}}),
    ("phone_number", {"phone_number": "victim@example.com", "phone_number_verified": True}),
]


def victim_click(
    monkeypatch: pytest.MonkeyPatch,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    issuer: Issuer,
    key_claim: str,
    claims: dict[str, Any],
) -> dict[str, Any]:
    """A click keyed by `key_claim`, with a token the function verifies, where the victim has
    a customer."""
    customer = fake_stripe.add_customer()
    dynamodb.put_item(
        TableName=DEMO_TABLE,
        Item={"user_id": {"S": "victim@example.com"}, "stripe_customer_id": {"S": customer}},
    )
    monkeypatch.setenv("USER_ID_CLAIM", key_claim)
    token = issuer.token(issuer.claims(sub="attacker", **claims))
    data = event("no-identity", headers={"authorization": f"Bearer {token}"})
    response: dict[str, Any] = build_handler()(data, LambdaContext())
    return response


@pytest.mark.parametrize(("key_claim", "claims"), EDITABLE_KEYS)
def test_a_key_the_user_can_edit_under_any_name_needs_its_own_proof(
    monkeypatch: pytest.MonkeyPatch,
    verified_tokens: Issuer,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    key_claim: str,
    claims: dict[str, Any],
) -> None:
    response = victim_click(monkeypatch, dynamodb, fake_stripe, verified_tokens, key_claim, claims)

    assert response["statusCode"] == 401
    assert "not verified" in problem(response)["detail"]
    assert fake_stripe.calls("POST", SESSIONS) == []


@pytest.mark.parametrize(("key_claim", "claims"), VERIFIED_KEYS)
def test_a_verified_key_under_any_name_reaches_its_customer(
    monkeypatch: pytest.MonkeyPatch,
    verified_tokens: Issuer,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    key_claim: str,
    claims: dict[str, Any],
) -> None:
    response = victim_click(monkeypatch, dynamodb, fake_stripe, verified_tokens, key_claim, claims)

    assert response["statusCode"] == 303


# Keys no table or Stripe metadata can hold (Stripe: 500 characters; DynamoDB: 2048 bytes).
ODD_KEYS = {
    "2049 bytes": "é" * 1024 + "x",
    "501 characters": "u" * 501,
    "a lone surrogate": "user-\ud800",
    "a NUL": "user\x00-1",
    "a newline": "user-1\n",
    "a DEL": "user-\x7f",
    "a C1 control": "user-\x85",
    "a right-to-left override (Cf)": "user-\u202e1",
    "a byte order mark (Cf)": "\ufeffuser-1",
    "a line separator (Zl)": "user-1\u2028",
    "a paragraph separator (Zp)": "user-1\u2029",
    # API Gateway's authorizer passes a list claim on as "[a b]": a list is no key
    "a one-item list from the authorizer": "[acme]",
    "a two-item list from the authorizer": "[acme globex]",
}


@pytest.mark.parametrize("kind", list(ODD_KEYS))
def test_an_odd_user_key_is_a_401_before_any_call(
    creating: Any,
    session: Any,
    dynamodb_calls: list[str],
    fake_stripe: FakeStripe,
    kind: str,
) -> None:
    handler = build_handler(session=session)

    response = handler(event("home", claims={"sub": ODD_KEYS[kind]}), LambdaContext())

    assert response["statusCode"] == 401
    assert problem(response)["type"].endswith("/unauthenticated")
    assert (dynamodb_calls, fake_stripe.calls()) == ([], [])


@pytest.mark.parametrize(
    ("setting", "value"),
    [("USER_ID_CLAIM", "preferred_username"), ("STRIPE_API_BASE", "http://api.stripe.com")],
)
def test_a_display_name_key_or_a_plain_http_stripe_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    fake_stripe: FakeStripe,
    setting: str,
    value: str,
) -> None:
    monkeypatch.setenv(setting, value)

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert problem(response)["type"].endswith("/server-misconfigured")
    assert fake_stripe.calls() == []


def test_a_token_whose_exp_is_a_string_is_a_401(
    verified_tokens: Issuer, dynamodb: Any, fake_stripe: FakeStripe
) -> None:
    claims = verified_tokens.claims(exp=str(int(verified_tokens.claims()["exp"])))
    token = verified_tokens.token(claims)

    response = build_handler()(
        event("no-identity", headers={"authorization": f"Bearer {token}"}), LambdaContext()
    )

    assert response["statusCode"] == 401
    assert "'exp'" in problem(response)["detail"]
    assert fake_stripe.calls() == []


def test_a_key_of_500_characters_is_still_a_user(creating: Any, fake_stripe: FakeStripe) -> None:
    response = creating(event("home", claims={"sub": "u" * 500}), LambdaContext())

    assert response["statusCode"] == 303
    [customer] = fake_stripe.customers.values()
    assert customer["metadata"]["user_key"] == "u" * 500


# --- 2, 3. bodies ---------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


def test_a_body_over_16_kib_is_a_413_before_it_is_read(invoke: Invoke, customer: str) -> None:
    response = post(invoke, "return_url=" + "a" * (16 * 1024), FORM)

    assert response["statusCode"] == 413
    assert problem(response)["type"].endswith("/payload-too-large")


def test_a_base64_body_is_measured_after_decoding(invoke: Invoke, customer: str) -> None:
    small = base64.b64encode(b"locale=de&" + b"x" * 15_000).decode()  # 20 KB encoded
    large = base64.b64encode(b"locale=de&x=" + b"y" * (16 * 1024)).decode()

    [ok, refused] = [
        invoke("form-post", headers={"content-type": FORM}, body=body, base64=True)
        for body in (small, large)
    ]

    assert ok["statusCode"] == 400  # read: "x" is not a known parameter
    assert problem(ok)["errors"][-1]["detail"] == "is not a known parameter"
    assert refused["statusCode"] == 413
    assert problem(refused)["type"].endswith("/payload-too-large")


def test_many_unknown_parameters_are_one_small_400(invoke: Invoke, customer: str) -> None:
    body = "&".join(f"p{n}=1" for n in range(2000))  # under 16 KiB

    response = post(invoke, body, FORM)

    assert response["statusCode"] == 400
    assert len(response["body"]) < 1000
    assert problem(response)["errors"][0]["detail"] == "more than 32 parameters were sent"


def test_a_json_body_with_thousands_of_keys_lists_at_most_20_errors(
    invoke: Invoke, customer: str
) -> None:
    body = json.dumps({f"k{n}": 1 for n in range(30)} | {"customer": "cus_X"})

    response = post(invoke, body, "application/json")

    assert response["statusCode"] == 400
    assert len(problem(response)["errors"]) == 20


# A list is no locale. 8,000 deep (as deep as the 16 KiB body allows) is past the JSON parser's
# recursion limit before Python 3.13, so the body is not read at all; 3.13's parser (Lambda's
# runtime) reads it, and the list is refused as a locale.
DEEPEST = "locale" if sys.version_info >= (3, 13) else "body"


@pytest.mark.parametrize(("depth", "named"), [(2, "locale"), (50, "locale"), (8_000, DEEPEST)])
def test_nested_json_is_a_400_however_deep(
    invoke: Invoke, customer: str, depth: int, named: str
) -> None:
    body = '{"locale":' + "[" * depth + "]" * depth + "}"

    response = post(invoke, body, "application/json")

    assert response["statusCode"] == 400
    assert [e["parameter"] for e in problem(response)["errors"]] == [named]


def test_a_body_that_is_not_utf8_is_a_400(invoke: Invoke, customer: str) -> None:
    body = base64.b64encode(b"locale=\xff\xfe").decode()

    response = invoke("form-post", headers={"content-type": FORM}, body=body, base64=True)

    assert response["statusCode"] == 400
    assert problem(response)["errors"] == [{"parameter": "body", "detail": "is not UTF-8 text"}]


@pytest.mark.parametrize("field", ["return_url", "after_completion_url"])
def test_a_lone_surrogate_in_a_json_url_is_a_400_not_a_500(
    invoke: Invoke, customer: str, fake_stripe: FakeStripe, field: str
) -> None:
    # json.loads accepts "\ud800"; no request to Stripe can carry it.
    params = {"flow": "payment_method_update", "after_completion": "redirect"}
    body = json.dumps({**params, field: "https://app.example.com/\ud800"})

    response = post(invoke, body, "application/json")

    assert response["statusCode"] == 400
    assert problem(response)["errors"] == [
        {"parameter": field, "detail": "must be valid text (UTF-8)"}
    ]
    assert fake_stripe.calls("POST", SESSIONS) == []


# --- 6. table items -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("stripe_customer_id", "cus_X\n"),
        ("stripe_customer_id", "cus_X&customer=cus_Y"),
        ("portal_configuration", "bpc_1\nx"),
        ("portal_configuration", "cus_123"),
        ("on_behalf_of", "acct_1&x=y"),
        ("on_behalf_of", "bpc_1"),
    ],
)
def test_a_bad_table_value_is_a_500_naming_it_and_nothing_goes_to_stripe(
    invoke: Invoke,
    dynamodb: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    attribute: str,
    value: str,
) -> None:
    item = {"user_id": {"S": "demo-user"}, "stripe_customer_id": {"S": "cus_Good1"}}
    dynamodb.put_item(TableName=DEMO_TABLE, Item={**item, attribute: {"S": value}})

    response = invoke("home")

    assert response["statusCode"] == 500
    assert f"'{attribute}'" in problem(response)["detail"]
    assert fake_stripe.calls() == []


# --- 7. profiles Stripe would refuse ----------------------------------------------------------


@pytest.fixture
def creating(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any) -> Any:
    monkeypatch.setenv("CREATE_MISSING_CUSTOMERS", "true")
    return build_handler()


@pytest.mark.parametrize(
    ("claims", "name", "email"),
    [
        ({"name": "N" * 300}, "N" * 256, None),
        ({"email": "x" * 520 + "@example.com"}, None, None),
        ({"email": "not-an-address"}, None, None),
        ({"email": "someone@example.c"}, None, None),  # ours lets it through; Stripe refuses
        ({"email": "ok@example.com", "name": " Ann "}, "Ann", "ok@example.com"),
    ],
)
def test_a_profile_stripe_would_refuse_still_gets_its_first_click_through(
    creating: Any,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    claims: dict[str, str],
    name: str | None,
    email: str | None,
) -> None:
    response = creating(event("home", claims={"sub": "new-user", **claims}), LambdaContext())

    assert response["statusCode"] == 303
    [customer] = fake_stripe.customers.values()
    assert (customer["name"], customer["email"]) == (name, email)
    assert [m["name"] for m in metrics_emitted(capfd)] == ["PortalSessionCreated"]


@pytest.mark.parametrize(
    ("verified", "copied"),
    [(None, True), (True, True), ("true", True), (False, False), ("false", False), (1, False)],
)
def test_an_unverified_email_is_never_copied_onto_the_new_customer(
    creating: Any, fake_stripe: FakeStripe, verified: object, copied: bool
) -> None:
    claims = {"sub": "new-user", "email": "unproven@example.com", "name": "Ann"}
    if verified is not None:
        claims["email_verified"] = verified  # type: ignore[assignment]

    response = creating(event("home", claims=claims), LambdaContext())

    assert response["statusCode"] == 303
    [customer] = fake_stripe.customers.values()
    assert customer["email"] == ("unproven@example.com" if copied else None)
    assert customer["name"] == "Ann"


# --- every answer: no MIME sniffing --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("home", {}),  # 303 to the portal
        ("json-mode", {}),  # 200 with the URL
        ("preflight", {}),  # 204
        ("home", {"query": "locale=xx"}),  # 400 problem
        ("no-identity", {}),  # 401
        ("home", {"method": "DELETE"}),  # 405
        ("home", {"headers": {"accept": "text/html"}, "query": "locale=xx"}),
    ],
)
def test_every_answer_forbids_mime_sniffing(
    invoke: Invoke, customer: str, name: str, changes: dict[str, Any]
) -> None:
    response = invoke(name, **changes)

    assert response["headers"]["X-Content-Type-Options"] == "nosniff"


def test_a_misconfigured_deployments_answers_forbid_mime_sniffing_too(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dynamodb: Any
) -> None:
    monkeypatch.setenv("BILLING_ROLES", ",")

    response = build_handler()(event("home"), LambdaContext())

    assert response["statusCode"] == 500
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"


# --- what Stripe echoes into our logs --------------------------------------------------------

# Stripe's messages quote the values they refuse; a customer's name or a token in a URL must
# not reach the log with them. (The leak scan in conftest also fails on the JWT and the email.)
ECHOING = (
    "Invalid string: Jane Q. Public; must be at most 256 characters. You passed 'Jane Doe' "
    'and "Dr. Who" with https://app.example.com/account?token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIi.c2ln'
    " for customer 'cus_Echo1' (ada@example.com, sk_test_abc123); see 'flow_data[type]'"
)


def test_stripe_messages_reach_the_log_without_names_tokens_emails_or_keys(
    invoke: Invoke,
    customer: str,
    fake_stripe: FakeStripe,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_stripe.fail_next(400, message=ECHOING, path_prefix=SESSIONS)

    response = invoke("home")

    assert response["statusCode"] == 500
    logged = [
        json.loads(line)
        for line in capfd.readouterr().out.splitlines()
        if '"stripe_message"' in line
    ]
    [message] = {line["stripe_message"] for line in logged}
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "stripe"]  # the SDK's own
    assert any("error_message=" in line for line in sdk_lines)
    for secret in ("Jane", "Public", "Dr. Who", "eyJ", "ada@", "sk_test_abc"):
        assert secret not in message
        assert not any(secret in line for line in sdk_lines)
    # What an operator needs stays: Stripe's wording, its ids and parameter names.
    assert "Invalid string: " in message and "must be at most 256 characters" in message
    assert "'cus_Echo1'" in message and "'flow_data[type]'" in message


# --- 9. pseudonyms in logs ------------------------------------------------------------------


def request_log_user(capfd: pytest.CaptureFixture[str]) -> str:
    out = capfd.readouterr().out
    [line] = [json.loads(x) for x in out.splitlines() if '"message":"request"' in x]
    return str(line["user"])


def test_the_logged_user_is_a_salted_pseudonym_stable_within_a_deployment(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    customer: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def logged_user(salt: str) -> str:
        monkeypatch.setenv("USER_HASH_SALT", salt)
        build_handler()(event("home"), LambdaContext())
        return request_log_user(capfd)

    first, again, other = logged_user("stack-a"), logged_user("stack-a"), logged_user("stack-b")

    assert first == again != other
    assert first != hashlib.sha256(b"demo-user").hexdigest()[:16]  # the guessable, unsalted one


# --- what powertools' dev mode and odd events must not do -------------------------------------


@pytest.mark.parametrize("switch", ["POWERTOOLS_DEV", "POWERTOOLS_LOGGER_LOG_EVENT"])
def test_powertools_dev_mode_never_prints_tokens_or_cookies(
    monkeypatch: pytest.MonkeyPatch,
    verified_tokens: Issuer,
    customer: str,
    capsys: pytest.CaptureFixture[str],
    switch: str,
) -> None:
    monkeypatch.setenv(switch, "true")
    monkeypatch.setenv("AUTH_COOKIE_NAME", "session")
    token, cookie = verified_tokens.token(), verified_tokens.token(kid="cookie-kid")
    data = event("no-identity", headers={"authorization": f"Bearer {token}"})
    data["cookies"] = [f"session={cookie}"]

    response = build_handler()(data, LambdaContext())

    assert response["statusCode"] == 303
    printed = "".join(capsys.readouterr())
    assert "request" in printed  # the request's log line is printed: the check can see it
    for secret in (token, cookie):
        assert secret.split(".")[2] not in printed


@pytest.mark.parametrize("raw", ["absent", None, 7])
def test_an_event_without_its_raw_query_string_reads_as_no_parameters(
    handler: Any, customer: str, raw: object
) -> None:
    data = event("home")
    if raw == "absent":
        del data["rawQueryString"]
    else:
        data["rawQueryString"] = raw
    data.pop("queryStringParameters", None)

    response = handler(data, LambdaContext())

    assert response["statusCode"] == 303
