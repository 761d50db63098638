"""The local Stripe stand-in and the real stripe SDK agree on the wire format.

Every test drives testing/fake_stripe.py with the pinned SDK's own ``StripeClient`` over real
HTTP on 127.0.0.1, so a disagreement shows up as an SDK exception or a wrong object here.
"""

import re
import sys
import types
import typing
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest
import stripe
from pydantic import BaseModel
from stripe._request_options import RequestOptions
from stripe.params.billing_portal import ConfigurationCreateParams, SessionCreateParams

from testing.fake_stripe import (
    DEFAULT_API_KEY,
    PORTAL_PAGE_TITLE,
    SESSION_CREATE_PARAMS,
    FakeStripe,
    Required,
    decode_params,
)
from tools.portal_params import ConfigurationCreate


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


def client_for(fake: FakeStripe, api_key: str = DEFAULT_API_KEY, retries: int = 0):
    return stripe.StripeClient(
        api_key, base_addresses={"api": fake.url}, max_network_retries=retries
    )


def test_portal_session_round_trip(fake):
    cus = fake.add_customer(email="ada@example.com")
    sub = fake.add_subscription(customer=cus)

    session = client_for(fake).v1.billing_portal.sessions.create(
        {
            "customer": cus,
            "return_url": "https://app.example/account",
            "locale": "fr",
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": sub},
                "after_completion": {
                    "type": "redirect",
                    "redirect": {"return_url": "https://app.example/done"},
                },
            },
        }
    )

    assert session.url == fake.sessions[session.id]["url"]
    assert session.url.startswith(fake.url + "/p/session/")
    assert session.object == "billing_portal.session"
    assert session.customer == cus
    assert session.flow.type == "subscription_cancel"
    assert session.flow.subscription_cancel.subscription == sub
    assert session.flow.after_completion.redirect.return_url == "https://app.example/done"

    (call,) = fake.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {
        "customer": cus,
        "return_url": "https://app.example/account",
        "locale": "fr",
        "flow_data": {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": sub},
            "after_completion": {
                "type": "redirect",
                "redirect": {"return_url": "https://app.example/done"},
            },
        },
    }
    # The SDK leaves the brackets unescaped and percent-encodes the values.
    assert "flow_data[after_completion][redirect][return_url]=https%3A%2F%2F" in call.raw
    assert call.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.headers["stripe-version"] == stripe.api_version
    assert call.headers["idempotency-key"]  # the SDK sends one on every POST
    assert call.headers["user-agent"].startswith(f"Stripe/v1 PythonBindings/{stripe.VERSION}")

    with urllib.request.urlopen(session.url) as page:  # noqa: S310 (a local http URL)
        text = page.read().decode()
    assert PORTAL_PAGE_TITLE in text and cus in text and "subscription_cancel" in text
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(fake.url + "/p/session/test_nope")  # noqa: S310
    assert missing.value.code == 404


def test_decode_bracket_notation():
    raw = (
        "expand[0]=customer&expand[1]=configuration&metadata[0]=zero"
        "&flow_data[subscription_update_confirm][items][0][id]=si_1"
        "&flow_data[subscription_update_confirm][items][0][quantity]=2&plain=a+b%26c"
    )
    assert decode_params(raw) == {
        "expand": ["customer", "configuration"],
        "metadata": {"0": "zero"},  # metadata keys are free-form, never a list
        "flow_data": {"subscription_update_confirm": {"items": [{"id": "si_1", "quantity": "2"}]}},
        "plain": "a b&c",
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"coupon": "FREE"}, "coupon"),
        # RequestOptions keys put in params are sent as form fields by StripeClient services.
        ({"idempotency_key": "k1"}, "idempotency_key"),
        (
            {
                "flow_data": {
                    "type": "payment_method_update",
                    "after_completion": {
                        "type": "redirect",
                        "redirect": {"return_url": "https://app.example/", "url": "x"},
                    },
                }
            },
            "flow_data[after_completion][redirect][url]",
        ),
        # customer_update is a flow type, but the SDK declares no flow_data[customer_update].
        (
            {"flow_data": {"type": "customer_update", "customer_update": {"allowed": "email"}}},
            "flow_data[customer_update]",
        ),
    ],
)
def test_unknown_parameter_is_rejected(fake, extra, param):
    cus = fake.add_customer()
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client_for(fake).v1.billing_portal.sessions.create({"customer": cus, **extra})
    assert exc.value.http_status == 400
    assert exc.value.code == "parameter_unknown"
    assert exc.value.param == param
    assert exc.value.user_message == f"Received unknown parameter: {param}"
    assert fake.sessions == {}


def test_invalid_requests_fail_like_stripe(fake):
    client = client_for(fake)
    cus = fake.add_customer()
    gone = fake.add_customer()
    fake.delete_customer(gone)
    create = client.v1.billing_portal.sessions.create
    cases = [
        ({}, 400, "parameter_missing", "customer"),
        ({"customer": cus, "flow_data": {"after_completion": {"type": "redirect"}}}, 400,
         "parameter_missing", "flow_data[type]"),
        ({"customer": cus, "flow_data": {"type": "subscription_update"}}, 400,
         "parameter_missing", "flow_data[subscription_update]"),
        ({"customer": cus, "flow_data": {"type": "nope"}}, 400, None, "flow_data[type]"),
        ({"customer": cus, "flow_data": {"type": "payment_method_update",
          "after_completion": {"type": "nope"}}}, 400, None, "flow_data[after_completion][type]"),
        ({"customer": cus, "locale": "xx"}, 400, None, "locale"),
        ({"customer": "cus_nope"}, 400, "resource_missing", "customer"),
        ({"customer": gone}, 400, "resource_missing", "customer"),
        ({"customer": cus, "flow_data": {"type": "subscription_cancel",
          "subscription_cancel": {"subscription": "sub_nope"}}}, 400, "resource_missing",
         "flow_data[subscription_cancel][subscription]"),
    ]  # fmt: skip
    for params, status, code, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            create(params)
        assert (exc.value.http_status, exc.value.code, exc.value.param) == (status, code, param)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        create({"customer": "cus_nope"})
    assert exc.value.user_message == "No such customer: 'cus_nope'"

    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.retrieve("cus_nope")
    assert (exc.value.http_status, exc.value.code) == (404, "resource_missing")
    assert client.v1.customers.retrieve(gone).deleted is True
    assert fake.sessions == {}


def test_idempotent_customer_creation(fake):
    client = client_for(fake)
    params = {"email": "ada@example.com", "name": "Ada", "metadata": {"user_key": "u-42"}}
    options = {"idempotency_key": "create-customer-u-42"}

    first = client.v1.customers.create(params, options)
    second = client.v1.customers.create(params, options)

    assert second.id == first.id
    assert list(fake.customers) == [first.id]
    assert first.metadata["user_key"] == "u-42"
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    replayed = fake.calls("POST", "/v1/customers")[1]
    assert replayed.headers["idempotency-key"] == "create-customer-u-42"

    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "eve@example.com"}, options)
    assert len(fake.customers) == 1

    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.create({"email": "a@example.com", "user_key": "u-1"})
    assert exc.value.param == "user_key"


def test_a_deleted_customer_is_gone_as_at_stripe_and_an_unknown_one_was_never_there(fake):
    client = client_for(fake)
    cus = fake.add_customer(email="ada@example.com", name="Ada")
    sub = fake.add_subscription(customer=cus)
    live = fake.add_customer(livemode=True)

    deleted = client.v1.customers.delete(cus)

    assert (deleted.id, deleted.deleted) == (cus, True)
    assert client.v1.customers.retrieve(cus).to_dict() == {
        "id": cus,
        "object": "customer",
        "deleted": True,
    }
    assert fake.subscriptions[sub]["status"] == "canceled"
    refused = [
        lambda: client.v1.billing_portal.sessions.create({"customer": cus}),
        lambda: client.v1.subscriptions.list({"customer": cus}),
        lambda: client.v1.customers.update(cus, {"name": "Eve"}),
        lambda: client.v1.customers.delete(cus),
    ]
    for call in refused:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            call()
        assert exc.value.code == "resource_missing"
        assert exc.value.user_message == f"No such customer: '{cus}'"
    assert [c.id for c in client.v1.customers.list().data] == [live]
    for never_had in ("cus_NeverHad", live):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.customers.retrieve(never_had)
        assert (exc.value.http_status, exc.value.code) == (404, "resource_missing")
    assert "similar object exists in live mode" in str(exc.value.user_message)


def test_a_customers_profile_is_updated_and_refused_as_at_creation(fake):
    client = client_for(fake)
    cus = fake.add_customer(metadata={"user_key": "u-42"})

    updated = client.v1.customers.update(cus, {"name": "Ada", "metadata": {"plan": "team"}})

    assert (updated.name, updated.metadata.to_dict()) == (
        "Ada",
        {"user_key": "u-42", "plan": "team"},
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.update(cus, {"email": "not an address"})
    assert exc.value.param == "email"
    assert fake.customers[cus]["email"] is None


def test_eight_concurrent_requests(fake):
    client = client_for(fake)
    options = {"idempotency_key": "same-first-click"}
    with ThreadPoolExecutor(8) as pool:
        customers = list(
            pool.map(
                lambda _: client.v1.customers.create({"email": "a@example.com"}, options), range(8)
            )
        )
        assert len({c.id for c in customers}) == 1
        cus = customers[0].id
        sessions = list(
            pool.map(
                lambda _: client.v1.billing_portal.sessions.create({"customer": cus}), range(8)
            )
        )
    assert len(fake.customers) == 1
    assert len({s.id for s in sessions}) == 8 == len(fake.sessions)
    assert len(fake.calls("POST")) == 16


def test_subscription_list_filters(fake):
    client = client_for(fake)
    ada, bob = fake.add_customer(), fake.add_customer()
    active = fake.add_subscription(customer=ada)
    trialing = fake.add_subscription(customer=ada, status="trialing", items=[("price_pro", 3)])
    canceled = fake.add_subscription(customer=ada, status="canceled")
    bobs = fake.add_subscription(customer=bob)
    account = fake.add_account()
    accounts = fake.add_subscription(customer_account=account)

    def ids(**params):
        return {sub.id for sub in client.v1.subscriptions.list(params).data}

    assert ids(customer=ada) == {active, trialing}  # default: everything not canceled
    assert ids(customer=ada, status="all") == {active, trialing, canceled}
    assert ids(customer=ada, status="trialing") == {trialing}
    assert ids(customer=ada, status="canceled") == {canceled}
    assert ids(customer=ada, price="price_pro") == {trialing}
    assert ids(customer=bob) == {bobs}
    assert ids(customer_account=account) == {accounts}
    assert fake.calls("GET", "/v1/subscriptions")[0].params == {"customer": ada}

    page = client.v1.subscriptions.list({"customer": ada, "limit": 1})
    assert (len(page.data), page.has_more) == (1, True)
    assert fake.calls("GET", "/v1/subscriptions")[-1].raw.endswith("limit=1")

    sub = client.v1.subscriptions.retrieve(trialing)
    item = sub["items"]["data"][0]  # sub.items is dict.items: index instead
    assert (sub.status, item["price"]["id"], item["quantity"]) == ("trialing", "price_pro", 3)
    assert item["id"].startswith("si_")

    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.list({"customer": ada, "status": "gone"})
    assert exc.value.param == "status"


def test_bad_api_key_is_an_authentication_error(fake):
    cus = fake.add_customer()
    with pytest.raises(stripe.AuthenticationError) as exc:
        client_for(fake, api_key="sk_test_wrongkey1234").v1.customers.retrieve(cus)
    assert exc.value.http_status == 401
    assert exc.value.user_message == "Invalid API Key provided: sk_test_****1234"
    fake.api_keys.add("sk_test_wrongkey1234")
    assert client_for(fake, api_key="sk_test_wrongkey1234").v1.customers.retrieve(cus).id == cus


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, stripe.RateLimitError),
        (500, stripe.APIError),
        (503, stripe.APIError),
        (401, stripe.AuthenticationError),
        (403, stripe.PermissionError),
    ],
)
def test_fail_next_maps_to_sdk_errors(fake, status, error):
    client = client_for(fake)
    cus = fake.add_customer()
    fake.fail_next(status, path_prefix="/v1/billing_portal/", retry_after=2)

    with pytest.raises(error) as exc:
        client.v1.billing_portal.sessions.create({"customer": cus})
    assert exc.value.http_status == status
    assert exc.value.headers["Retry-After"] == "2"
    if status == 429:
        assert exc.value.json_body["error"]["type"] == "rate_limit_error"
    assert client.v1.billing_portal.sessions.create({"customer": cus}).customer == cus


def test_sdk_retries_a_503_with_the_same_idempotency_key(fake):
    cus = fake.add_customer()
    fake.fail_next(503)
    session = client_for(fake, retries=1).v1.billing_portal.sessions.create({"customer": cus})
    first, retry = fake.calls("POST", "/v1/billing_portal/sessions")
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert list(fake.sessions) == [session.id]


def test_drop_next_is_a_connection_error(fake):
    client = client_for(fake)
    cus = fake.add_customer()
    fake.drop_next()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.retrieve(cus)
    assert client.v1.customers.retrieve(cus).id == cus


def test_connections_are_reused(fake):
    client = client_for(fake)
    cus = fake.add_customer()
    client.v1.customers.retrieve(cus)
    client.v1.billing_portal.sessions.create({"customer": cus})
    assert fake.connections == 1
    client_for(fake).v1.customers.retrieve(cus)  # a new client opens its own connection
    assert fake.connections == 2


def test_unknown_url_is_a_404(fake):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client_for(fake).v1.prices.retrieve("price_basic")
    assert exc.value.http_status == 404
    assert exc.value.user_message.startswith("Unrecognized request URL (GET: /v1/prices/")


def _sdk_shape(typed_dict: type) -> dict:
    """{field: (required, is_list, nested shape | enum values | scalar)} of a params TypedDict."""
    module = sys.modules[typed_dict.__module__]
    shape = {}
    for name, annotation in typed_dict.__annotations__.items():
        if name in RequestOptions.__annotations__:
            continue  # request options, never sent as parameters
        text = repr(annotation)
        nested = re.search(r"SessionCreateParams\w+", text)
        literal = re.search(r"Literal\[([^\]]*)\]", text)
        if nested:
            inner = _sdk_shape(getattr(module, nested.group(0)))
        elif literal:
            inner = tuple(re.findall(r"'([^']*)'", literal.group(1)))
        else:
            inner = "int" if re.search(r"\bint\b", text) else "str"
        shape[name] = (name in typed_dict.__required_keys__, "List[" in text, inner)
    return shape


def _fake_shape(schema: dict) -> dict:
    shape = {}
    for name, spec in schema.items():
        required = isinstance(spec, Required)
        spec = spec.spec if required else spec
        is_list = isinstance(spec, list)
        spec = spec[0] if is_list else spec
        if isinstance(spec, dict):
            inner = _fake_shape(spec)
        else:
            inner = spec if isinstance(spec, tuple) else spec.__name__
        shape[name] = (required, is_list, inner)
    return shape


def test_session_schema_matches_the_pinned_sdk():
    assert _fake_shape(SESSION_CREATE_PARAMS) == _sdk_shape(SessionCreateParams)


# --- portal configurations: the pydantic mirror (tools/portal_params.py) and the SDK ---------


def _sdk_config_shape(typed_dict: type) -> dict:
    """{field: (required, list, blankable, nested shape | enum values | scalar)}."""
    module = sys.modules[typed_dict.__module__]
    shape = {}
    for name, annotation in typed_dict.__annotations__.items():
        if name in RequestOptions.__annotations__:
            continue
        text = repr(annotation)
        nested = re.search(r"ConfigurationCreateParams\w+", text)
        values = [v for group in re.findall(r"Literal\[([^\]]*)\]", text)
                  for v in re.findall(r"'([^']*)'", group) if v]  # fmt: skip
        if nested:
            inner: object = _sdk_config_shape(getattr(module, nested.group(0)))
        elif values:
            inner = tuple(sorted(values))
        else:
            inner = next(t for t in ("Dict", "bool", "int", "str") if re.search(rf"\b{t}\b", text))
        blank = "Literal['']" in text
        shape[name] = (name in typed_dict.__required_keys__, "List[" in text, blank, inner)
    return shape


def _kinds(annotation: object, out: dict) -> dict:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            _kinds(arg, out)
    elif origin is list:
        out["list"] = True
        _kinds(typing.get_args(annotation)[0], out)
    elif origin is typing.Literal:
        values = typing.get_args(annotation)
        out["blank"] |= values == ("",)
        out["values"] += tuple(v for v in values if v)
    elif origin is dict:
        out["scalar"] = "Dict"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out["model"] = annotation
    elif annotation is not type(None):
        out["scalar"] = getattr(annotation, "__name__", str(annotation))
    return out


def _model_shape(model: type[BaseModel]) -> dict:
    shape = {}
    for name, field in model.model_fields.items():
        kinds = _kinds(field.annotation, {"list": False, "blank": False, "values": ()})
        if "model" in kinds:
            inner: object = _model_shape(kinds["model"])
        elif kinds["values"]:
            inner = tuple(sorted(kinds["values"]))
        else:
            inner = kinds["scalar"]
        shape[name] = (field.is_required(), kinds["list"], kinds["blank"], inner)
    return shape


def test_the_configuration_mirror_matches_the_pinned_sdk():
    assert _model_shape(ConfigurationCreate) == _sdk_config_shape(ConfigurationCreateParams)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"name": "N" * 257}, "name"),
        ({"email": "x" * 510 + "@example.com"}, "email"),
        ({"email": "someone@example.c"}, "email"),
    ],
)
def test_customer_profiles_stripe_refuses_are_400s_naming_the_field(
    fake: FakeStripe, params: dict[str, str], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client_for(fake).v1.customers.create(params)  # type: ignore[arg-type]

    assert refused.value.param == param
    assert fake.customers == {}


class _Fields(HTMLParser):
    """The portal page's <dt>/<dd> pairs, as a reader sees them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._tag: str | None = None
        self._name = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("dt", "dd"):
            self._tag = tag
            if tag == "dt":
                self._name = ""
            else:
                self.pairs.append((self._name, ""))

    def handle_endtag(self, tag):
        self._tag = None

    def handle_data(self, data):
        if self._tag == "dt":
            self._name += data
        elif self._tag == "dd":
            name, value = self.pairs[-1]
            self.pairs[-1] = (name, value + data)


def portal_fields(url: str) -> tuple[str, list[tuple[str, str]]]:
    with urllib.request.urlopen(url) as page:  # noqa: S310 (a local http URL)
        text = page.read().decode()
    parser = _Fields()
    parser.feed(text)
    return text, parser.pairs


def test_portal_page_shows_every_session_parameter_escaped(fake):
    cus = fake.add_customer(email="ada@example.com")
    sub = fake.add_subscription(customer=cus, items=(("price_basic", 1),))
    item = fake.subscriptions[sub]["items"]["data"][0]["id"]
    hostile = "https://app.example/account?next=<script>alert('x')</script>&a=\"b\""
    config = fake.add_configuration(
        {
            "subscription_update": {
                "enabled": True,
                "products": [{"product": "prod_demo", "prices": ["price_pro"]}],
            }
        }
    )

    session = client_for(fake).v1.billing_portal.sessions.create(
        {
            "customer": cus,
            "return_url": hostile,
            "locale": "fr",
            "configuration": config,
            "on_behalf_of": "acct_<b>1</b>",
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": sub,
                    "items": [{"id": item, "price": "price_pro", "quantity": 3}],
                },
                "after_completion": {
                    "type": "redirect",
                    "redirect": {"return_url": "https://app.example/done?x=<i>"},
                },
            },
        }
    )
    text, fields = portal_fields(session.url)

    assert fields == [
        ("Customer", cus),
        ("Flow", "subscription_update_confirm"),
        ("Subscription", sub),
        ("Subscription item", item),
        ("Price", "price_pro"),
        ("Quantity", "3"),
        ("After completion", "redirect"),
        ("Redirect URL", "https://app.example/done?x=<i>"),
        ("Return URL", hostile),
        ("Locale", "fr"),
        ("Configuration", config),
        ("On behalf of", "acct_<b>1</b>"),
    ]
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    assert f"<h1>{PORTAL_PAGE_TITLE}</h1>" in text


def test_portal_page_of_a_home_session_says_what_is_not_set(fake):
    cus = fake.add_customer()

    session = client_for(fake).v1.billing_portal.sessions.create({"customer": cus})
    _, fields = portal_fields(session.url)

    assert dict(fields) == {
        "Customer": cus,
        "Flow": "(portal home page)",
        "Return URL": "not set",
        "Locale": "not set",
        "Configuration": fake.default_configuration,
        "On behalf of": "not set",
    }


def test_configurations_round_trip_through_the_sdk(fake):
    client = client_for(fake)
    configurations = client.v1.billing_portal.configurations

    created = configurations.create(
        {
            "business_profile": {"headline": "Acme billing"},
            "features": {
                "payment_method_update": {"enabled": True},
                "subscription_cancel": {"enabled": True, "mode": "immediately"},
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [{"product": "prod_demo", "prices": ["price_pro"]}],
                },
            },
            "metadata": {"managed_by": "billing-portal"},
        }
    )
    updated = configurations.update(
        created.id, {"features": {"subscription_cancel": {"mode": "at_period_end"}}}
    )
    listed = configurations.list({"active": True, "limit": 100})

    assert created.id.startswith("bpc_")
    assert created.features.subscription_update.products[0].adjustable_quantity.minimum == 1
    assert created.features.invoice_history.enabled is False  # Stripe's default
    assert updated.features.subscription_cancel.mode == "at_period_end"
    assert updated.features.subscription_cancel.enabled is True  # an update merges
    assert updated.business_profile.headline == "Acme billing"
    assert configurations.retrieve(created.id).to_dict() == updated.to_dict()
    assert {c.id for c in listed.data} == {created.id, fake.default_configuration}


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"features": {"invoice_history": {"enabled": True}}, "colour": "red"}, "colour",
         "Received unknown parameter: colour"),
        ({"features": {"subscription_cancel": {"enabled": True, "mode": "whenever"}}},
         "features[subscription_cancel][mode]", "Invalid features[subscription_cancel][mode]"),
        ({"features": {"customer_update": {"allowed_updates": ["email"]}}},
         "features[customer_update][enabled]", "Missing required param"),
        ({}, "features", "Missing required param: features."),
    ],
)  # fmt: skip
def test_a_configuration_stripe_would_refuse_is_refused_naming_the_param(
    fake, params, param, message
):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client_for(fake).v1.billing_portal.configurations.create(params)

    assert refused.value.param == param
    assert refused.value.user_message.startswith(message)


def test_subscription_updates_need_payment_method_updates_as_at_stripe(fake):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client_for(fake).v1.billing_portal.configurations.create(
            {"features": {"subscription_update": {"enabled": True}}}
        )

    assert "payment method update is disabled" in refused.value.user_message


def test_the_portal_page_lists_the_features_its_configuration_enables(fake):
    config = fake.add_configuration(
        {"invoice_history": {"enabled": True}, "subscription_pause": {"enabled": True}},
        business_profile={"headline": "Acme <billing>"},
    )
    cus = fake.add_customer()

    session = client_for(fake).v1.billing_portal.sessions.create(
        {"customer": cus, "configuration": config}
    )
    with urllib.request.urlopen(session.url) as page:  # noqa: S310 (a local http URL)
        text = page.read().decode()

    features = re.findall(r"<li>([^<]*)</li>", text)
    assert features == ["Invoice history", "Pause subscriptions"]
    assert "Acme &lt;billing&gt;" in text


def _refusal(fake: FakeStripe, params: dict) -> dict:
    """Stripe's error object for a session the stand-in refuses (what the SDK received)."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client_for(fake).v1.billing_portal.sessions.create(params)
    assert refused.value.http_status == 400
    error = refused.value.error
    assert error is not None
    return {"type": error.type, "code": error.code, "param": error.param}


def test_sessions_are_refused_as_stripe_refuses_them(fake):
    cus = fake.add_customer()
    canceling = fake.add_subscription(customer=cus, cancel_at_period_end=True)
    metered = fake.add_subscription(customer=cus, items=[("price_per_call", None)])
    basic = fake.add_subscription(customer=cus)
    item = fake.subscriptions[basic]["items"]["data"][0]["id"]
    no_pause = fake.add_configuration({"subscription_cancel": {"enabled": True}})
    live = fake.add_customer(livemode=True)

    def flow(kind: str, sub: str, **extra) -> dict:
        return {"customer": cus, "flow_data": {"type": kind, kind: {"subscription": sub, **extra}}}

    confirm = {"items": [{"id": item, "price": "price_nope"}]}
    assert _refusal(fake, flow("subscription_cancel", canceling)) == {
        "type": "invalid_request_error",
        "code": None,
        "param": "flow_data[subscription_cancel][subscription]",
    }
    assert _refusal(fake, flow("subscription_update", metered))["param"] == (
        "flow_data[subscription_update][subscription]"
    )
    assert _refusal(fake, {**flow("subscription_pause", canceling), "configuration": no_pause}) == {
        "type": "invalid_request_error",
        "code": None,
        "param": "flow_data[type]",
    }
    assert _refusal(fake, flow("subscription_update_confirm", basic, **confirm)) == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "flow_data[subscription_update_confirm][items][0][price]",
    }
    assert _refusal(fake, {"customer": live}) == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "customer",
    }
    with pytest.raises(stripe.InvalidRequestError) as other_mode:
        client_for(fake).v1.billing_portal.sessions.create({"customer": live})
    assert other_mode.value.user_message == (
        f"No such customer: '{live}'; a similar object exists in live mode, but a test mode key "
        "was used to make this request."
    )
