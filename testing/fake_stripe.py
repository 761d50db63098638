"""A local stand-in for the slice of Stripe's HTTP API that billing-portal uses.

It speaks Stripe's v1 wire format over real HTTP/1.1 (keep-alive, Content-Length) on
127.0.0.1, so the real ``stripe.StripeClient`` can be pointed at it::

    with FakeStripe() as fake:
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        cus = fake.add_customer(email="a@example.com")
        client.v1.billing_portal.sessions.create({"customer": cus})

Requests are form-encoded with bracket notation (``flow_data[type]=...``, ``expand[0]=...``)
and decoded into nested dicts and lists. Errors are Stripe's error JSON with Stripe's HTTP
statuses, so the SDK raises the same exception classes it raises against api.stripe.com.
The parameters of ``POST /v1/billing_portal/sessions`` are checked at every nesting level
against the fields that the pinned SDK's ``SessionCreateParams`` TypedDicts declare
(``SESSION_CREATE_PARAMS``; tests/test_fake_stripe.py checks the two agree).

Portal configurations are checked with the pydantic mirror of the SDK's
``ConfigurationCreateParams`` in tools/portal_params.py (an update: the same, with missing
required fields allowed, as ``ConfigurationModifyParams`` allows most of them, plus ``active``).

Endpoints: ``POST /v1/billing_portal/sessions``, ``POST /v1/billing_portal/configurations``
(create), ``POST /v1/billing_portal/configurations/{id}`` (update),
``GET /v1/billing_portal/configurations`` (list: ``active``, ``is_default``, ``limit``,
``starting_after``), ``GET /v1/billing_portal/configurations/{id}``, ``POST /v1/customers``,
``GET /v1/customers`` (``limit``, ``starting_after``), ``GET /v1/customers/{id}``,
``POST /v1/customers/{id}`` (update), ``DELETE /v1/customers/{id}``, ``GET /v1/subscriptions``,
``GET /v1/subscriptions/{id}``, and
``GET /p/session/{token}`` (the HTML page a session's ``url`` points at: every parameter the
session was created with, in a definition list, and the features its configuration enables).
Anything else: 404.
Every POST honours ``Idempotency-Key``: a successful answer is replayed for the same key and
parameters; the same key with other parameters or another endpoint is a 400
``idempotency_error``. Requests are handled one at a time under a lock (only ``delay`` sleeps
outside it), so concurrent requests with one key also end in one object.

Python API (all thread-safe):

``FakeStripe(port=0)``; ``.start() -> self``, ``.stop()``, or ``with FakeStripe() as fake:``
``.url``                       ``http://127.0.0.1:<port>`` (no trailing slash)
``.api_keys: set[str]``        accepted secret keys, default ``{"sk_test_fake"}``
``.default_configuration``     the ``bpc_...`` reported when a session names none
``.add_customer(**fields) -> "cus_..."`` (``livemode=True``: a customer of the other mode, which
a test key is told "a similar object exists in live mode"), ``.delete_customer(id)`` (as Stripe
deletes one, also through ``DELETE /v1/customers/{id}``: its subscriptions are canceled, a session,
an update or a subscription list naming it is refused "No such customer", and retrieving it
answers ``{"id": ..., "object": "customer", "deleted": true}``; an id it never had is a 404
``resource_missing``), ``.add_account(id=None) -> "acct_..."``,
``.add_subscription(customer=None, customer_account=None, status="active",
items=(("price_basic", 1),), cancel_at_period_end=False) -> "sub_..."`` (a quantity of None is a
usage-based price), ``.add_configuration(features=None, **fields) -> "bpc_..."``,
``.add_promotion_code(id=None) -> "promo_..."`` (a session naming another is refused)
``.prices`` (``price_basic``, ``price_pro``, ``price_premium`` of ``prod_demo`` from the start),
``.configurations`` (the default one, ``default_configuration``, has every feature on)

Portal sessions are refused as Stripe refuses them: an unknown or inactive configuration
(``param=configuration``), a flow whose feature the configuration leaves off
(``flow_data[type]``), a flow the subscription's state rules out (canceled, already set to
cancel, already paused, or a plan change of a multi-item or usage-based subscription:
``flow_data[<flow>][subscription]``), and a ``subscription_update_confirm`` price that does not
exist (``resource_missing``) or that the configuration does not offer (``...[items][0][price]``).
``.requests: list[RecordedRequest]`` every request received (method, path, params, headers
with lower-case names, raw body/query); ``.calls(method=None, path_prefix="")`` filters them
``.sessions``, ``.customers``, ``.subscriptions`` (dicts id -> object), ``.accounts`` (set)
``.connections``               TCP connections accepted
``.fail_next(status, times=1, error_type=None, path_prefix=None, retry_after=None,
should_retry=None, message=None, code=None, param=None)``  answer the next matching requests with
a Stripe error (type by status unless given: 429 ``rate_limit_error``, 5xx ``api_error``, other
``invalid_request_error``; ``Retry-After`` / ``Stripe-Should-Retry`` headers when given)
``.drop_next(times=1, path_prefix=None)``  close the connection without answering
``.delay = seconds``           sleep before answering every request
``.reset()``                   clear objects, records, faults, ``delay`` and ``connections``
(``api_keys`` and the server stay as they are)
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from pydantic import ValidationError

from billing_portal.domain.flows import FLOW_FEATURES
from tools.portal_params import ConfigurationCreate

DEFAULT_API_KEY = "sk_test_fake"
API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends (stripe._api_version)
PORTAL_PAGE_TITLE = "Customer portal (local Stripe stand-in)"


# --- Parameter schemas -------------------------------------------------------------------
# A spec is: str or int (a scalar; on the wire everything is a string), a tuple (an enum of
# strings), a dict (a nested object: name -> spec), a one-element list (an array of that
# spec), ANY (not checked), or Required(spec) for a field the SDK declares without NotRequired.


@dataclass(frozen=True)
class Required:
    spec: Any


ANY = object()

LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)  # fmt: skip
FLOW_TYPES = (
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
SUBSCRIPTION_FLOWS = FLOW_TYPES[2:]  # the flow types that name a subscription
AFTER_COMPLETION_TYPES = ("hosted_confirmation", "portal_homepage", "redirect")
SUBSCRIPTION_STATUSES = (
    "active",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

# stripe/params/billing_portal/_session_create_params.py (SessionCreateParams and its parts)
SESSION_CREATE_PARAMS: dict[str, Any] = {
    "after_expiration": {
        "customer_login": {"expires_at": int},
        "type": Required(("customer_login",)),
    },
    "configuration": str,
    "customer": str,
    "customer_account": str,
    "expand": [str],
    "flow_data": {
        "after_completion": {
            "hosted_confirmation": {"custom_message": str},
            "redirect": {"return_url": Required(str)},
            "type": Required(AFTER_COMPLETION_TYPES),
        },
        "subscription_cancel": {
            "retention": {
                "coupon_offer": Required({"coupon": Required(str)}),
                "type": Required(("coupon_offer",)),
            },
            "subscription": Required(str),
        },
        "subscription_pause": {"subscription": Required(str)},
        "subscription_update": {"subscription": Required(str)},
        "subscription_update_confirm": {
            "discounts": [{"coupon": str, "promotion_code": str}],
            "items": Required([{"id": Required(str), "price": str, "quantity": int}]),
            "subscription": Required(str),
        },
        "type": Required(FLOW_TYPES),
    },
    "locale": LOCALES,
    "on_behalf_of": str,
    "return_url": str,
}

# stripe/params/_customer_create_params.py: top-level names only; nested content not checked.
CUSTOMER_CREATE_PARAMS: dict[str, Any] = {
    **dict.fromkeys((
        "address", "balance", "business_name", "cash_balance", "individual_name",
        "invoice_prefix", "invoice_settings", "metadata", "next_invoice_sequence",
        "payment_method", "preferred_locales", "shipping", "source", "tax", "tax_exempt",
        "tax_id_data", "test_clock", "validate",
    ), ANY),
    **dict.fromkeys(("description", "email", "name", "phone"), str),
    "expand": [str],
}  # fmt: skip

CUSTOMER_NAME_MAX, CUSTOMER_EMAIL_MAX = 256, 512
# Stricter than many address checks: a top-level domain of two letters or more.
STRIPE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}\Z")

# stripe/params/_subscription_list_params.py
SUBSCRIPTION_LIST_PARAMS: dict[str, Any] = {
    **dict.fromkeys((
        "automatic_tax", "collection_method", "created", "current_period_end",
        "current_period_start",
    ), ANY),
    **dict.fromkeys((
        "customer", "customer_account", "ending_before", "plan", "price", "starting_after",
        "test_clock",
    ), str),
    "expand": [str],
    "limit": int,
    "status": ("all", "ended", *SUBSCRIPTION_STATUSES),
}  # fmt: skip

RETRIEVE_PARAMS: dict[str, Any] = {"expand": [str]}
LIST_PARAMS: dict[str, Any] = {
    "ending_before": str, "expand": [str], "limit": int, "starting_after": str,
}  # fmt: skip
# What a configuration's parameters set (the object's other fields are Stripe's own).
CONFIGURATION_FIELDS = (
    "business_profile",
    "default_return_url",
    "features",
    "login_page",
    "metadata",
    "name",
)

# stripe/params/billing_portal/_configuration_list_params.py
CONFIGURATION_LIST_PARAMS: dict[str, Any] = {
    **dict.fromkeys(("active", "is_default"), ("true", "false")),
    **dict.fromkeys(("ending_before", "starting_after"), str),
    "expand": [str],
    "limit": int,
}

# Prices the stand-in knows from the start (the demo's and the events' plans), one product.
DEMO_PRODUCT = "prod_demo"
DEMO_PRICES = ("price_basic", "price_pro", "price_premium")
DEFAULT_FEATURES: dict[str, Any] = {
    "customer_update": {"enabled": True, "allowed_updates": ["address", "email", "tax_id"]},
    "invoice_history": {"enabled": True},
    "payment_method_update": {"enabled": True},
    "subscription_cancel": {"enabled": True},
    "subscription_pause": {"enabled": True},
    "subscription_update": {
        "enabled": True,
        "default_allowed_updates": ["price", "quantity", "promotion_code"],
        "products": [{"product": DEMO_PRODUCT, "prices": list(DEMO_PRICES)}],
    },
}


# --- Errors --------------------------------------------------------------------------------


class StripeFailure(Exception):
    """An error answer: HTTP status plus the members of Stripe's ``{"error": {...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.error: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.error["code"] = code
            self.error["doc_url"] = "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
        if param:
            self.error["param"] = param


def _unknown(param: str) -> StripeFailure:
    return StripeFailure(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def _missing(param: str) -> StripeFailure:
    return StripeFailure(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeFailure:
    return StripeFailure(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def _other_mode(customer_id: str, param: str, status: int = 400) -> StripeFailure:
    return StripeFailure(
        status,
        f"No such customer: '{customer_id}'; a similar object exists in live mode, but a test "
        "mode key was used to make this request.",
        code="resource_missing",
        param=param,
    )


def _check_profile(params: dict[str, Any]) -> None:
    """Stripe's own limits on what a customer's profile may hold (its error names the field)."""
    if len(params.get("name") or "") > CUSTOMER_NAME_MAX:
        raise StripeFailure(400, "Name is too long (maximum 256 characters).", param="name")
    email = params.get("email")
    if email is not None and (len(email) > CUSTOMER_EMAIL_MAX or not STRIPE_EMAIL.match(email)):
        raise StripeFailure(400, "Invalid email address.", code="email_invalid", param="email")


def _validate(value: Any, spec: Any, name: str) -> None:
    """Raise the StripeFailure real Stripe answers when ``value`` does not fit ``spec``."""
    if isinstance(spec, Required):
        spec = spec.spec
    if spec is ANY:
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise StripeFailure(400, "Invalid object", param=name or None)
        for key in value:
            if key not in spec:
                raise _unknown(f"{name}[{key}]" if name else key)
        for key, sub in spec.items():
            full = f"{name}[{key}]" if name else key
            if key in value:
                _validate(value[key], sub, full)
            elif isinstance(sub, Required):
                raise _missing(full)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise StripeFailure(400, "Invalid array", param=name)
        for i, item in enumerate(value):
            _validate(item, spec[0], f"{name}[{i}]")
    elif not isinstance(value, str):
        raise StripeFailure(400, f"Invalid {'integer' if spec is int else 'string'}", param=name)
    elif value == "":
        raise StripeFailure(
            400,
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' "
            "from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=name,
        )
    elif spec is int and not re.fullmatch(r"-?\d+", value):
        raise StripeFailure(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        )
    elif isinstance(spec, tuple) and value not in spec:
        raise StripeFailure(400, f"Invalid {name}: must be one of {', '.join(spec)}", param=name)


def _check_url(value: str, param: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StripeFailure(400, "Not a valid URL", code="url_invalid", param=param)


# --- Wire format ---------------------------------------------------------------------------


def decode_params(raw: str) -> dict[str, Any]:
    """``a[b][0]=x&a[c]=y`` -> ``{"a": {"b": ["x"], "c": "y"}}`` (Stripe's bracket notation).

    Objects whose keys are all digits become lists (the SDK sends arrays as ``k[0]``, ``k[1]``),
    except under ``metadata``, whose keys are free-form. ``k[]=x`` appends, as curl users write.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [head]
        node = root
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1] or str(len(node))] = value
    return {key: _listify(value, key) for key, value in root.items()}


def _listify(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v, k) for k, v in node.items()}
    if node and key != "metadata" and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _masked(key: str) -> str:
    match = re.match(r"(?:sk|rk|pk)_(?:test|live)_", key)
    return (match.group(0) if match else "") + "****" + key[-4:]


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]  # the body (POST) or query string (GET), decoded
    headers: dict[str, str]  # names in lower case
    raw: str = ""  # the form-encoded body or query string as received


@dataclass
class _Fault:
    times: int
    path_prefix: str | None
    failure: StripeFailure | None  # None: drop the connection


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
    body = json.dumps(payload, indent=2).encode()
    return _Answer(status, body, headers=headers or {})


# --- The server ----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    wbufsize = -1  # headers and body leave in one write (flushed by handle_one_request) ...
    disable_nagle_algorithm = True  # ... and at once: no 40 ms Nagle/delayed-ACK stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._closed(self.connection)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read fake.requests instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeStripe, port: int) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)


class FakeStripe:
    def __init__(self, port: int = 0) -> None:
        self.port = port  # 0: any free port
        self.api_keys: set[str] = {DEFAULT_API_KEY}
        self.default_configuration = _new_id("bpc_")
        self.delay = 0.0
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self.reset()

    # lifecycle

    def start(self) -> FakeStripe:
        if self._server is None:
            self._server = _Server(self, self.port)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-stripe",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # end idle keep-alive connections too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeStripe is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # state

    def reset(self) -> None:
        with self._lock:
            self.customers: dict[str, dict[str, Any]] = {}
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.sessions: dict[str, dict[str, Any]] = {}
            self.accounts: set[str] = set()
            self.prices: dict[str, dict[str, Any]] = {
                price: _price_object(price, DEMO_PRODUCT) for price in DEMO_PRICES
            }
            self.promotion_codes: set[str] = set()
            # Like an account whose default configuration was saved with every feature on.
            self.configurations: dict[str, dict[str, Any]] = {
                self.default_configuration: _configuration_object(
                    self.default_configuration, DEFAULT_FEATURES, is_default=True
                )
            }
            self.requests: list[RecordedRequest] = []
            self.connections = 0
            self.delay = 0.0
            self._faults: list[_Fault] = []
            self._idempotent: dict[str, tuple[str, dict[str, Any], _Answer]] = {}
            self._pages: dict[str, str] = {}  # portal page token -> session id

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)
            ]

    def add_configuration(self, features: dict[str, Any] | None = None, **fields: Any) -> str:
        """A saved portal configuration: Stripe's defaults (every feature off) with ``features``
        and ``fields`` (business_profile, metadata, active...) set, as the API returns it."""
        with self._lock:
            config_id = _new_id("bpc_")
            config = _configuration_object(config_id, features or {})
            _merge(config, fields)
            self.configurations[config_id] = config
            return config_id

    def add_promotion_code(self, code_id: str | None = None) -> str:
        with self._lock:
            code_id = code_id or _new_id("promo_")
            self.promotion_codes.add(code_id)
            return code_id

    def add_customer(self, **fields: Any) -> str:
        """``livemode=True`` makes a customer of the other mode: the stand-in's keys are test
        keys, so Stripe's "a similar object exists in live mode" is what it answers."""
        with self._lock:
            customer = self._customer_object(_new_id("cus_", 14), fields)
            self.customers[customer["id"]] = customer
            return customer["id"]

    def delete_customer(self, customer_id: str) -> None:
        with self._lock:
            if customer_id not in self.customers:
                raise KeyError(customer_id)
            self._delete_customer({}, customer_id)

    def add_account(self, id: str | None = None) -> str:
        with self._lock:
            account_id = id or _new_id("acct_", 16)
            self.accounts.add(account_id)
            return account_id

    def add_subscription(
        self,
        customer: str | None = None,
        customer_account: str | None = None,
        status: str = "active",
        items: Any = (("price_basic", 1),),
        cancel_at_period_end: bool = False,
    ) -> str:
        """``items``: (price, quantity) pairs; a quantity of None is a usage-based (metered)
        price, which has none. Prices the stand-in does not know yet are created."""
        with self._lock:
            if (customer is None) == (customer_account is None):
                raise ValueError("give exactly one of customer, customer_account")
            if customer is not None and customer not in self.customers:
                raise ValueError(f"unknown customer {customer}")
            if customer_account is not None and customer_account not in self.accounts:
                raise ValueError(f"unknown account {customer_account} (add_account first)")
            if status not in SUBSCRIPTION_STATUSES:
                raise ValueError(f"unknown status {status}")
            sub_id = _new_id("sub_")
            for price, quantity in items:
                usage = "licensed" if quantity is not None else "metered"
                self.prices.setdefault(price, _price_object(price, DEMO_PRODUCT, usage))
            item_objects = [
                {
                    "id": _new_id("si_", 14),
                    "object": "subscription_item",
                    "created": int(time.time()),
                    "price": self.prices[price],
                    "quantity": quantity,
                    "subscription": sub_id,
                }
                for price, quantity in items
            ]
            self.subscriptions[sub_id] = {
                "id": sub_id,
                "object": "subscription",
                "cancel_at_period_end": cancel_at_period_end,
                "created": int(time.time()),
                "customer": customer,
                "customer_account": customer_account,
                "items": {
                    "object": "list",
                    "data": item_objects,
                    "has_more": False,
                    "total_count": len(item_objects),
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "livemode": False,
                "metadata": {},
                "status": status,
            }
            return sub_id

    # fault injection

    def fail_next(
        self,
        status: int,
        times: int = 1,
        error_type: str | None = None,
        path_prefix: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        message: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        if error_type is None:
            error_type = (
                "rate_limit_error"
                if status == 429
                else "api_error"
                if status >= 500
                else "invalid_request_error"
            )
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if should_retry is not None:
            headers["Stripe-Should-Retry"] = str(should_retry).lower()
        failure = StripeFailure(
            status,
            message or f"Injected failure (HTTP {status}) from the local Stripe stand-in.",
            type=error_type,
            code=code or ("rate_limit" if status == 429 else None),
            param=param,
            headers=headers,
        )
        with self._lock:
            self._faults.append(_Fault(times, path_prefix, failure))

    def drop_next(self, times: int = 1, path_prefix: str | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(times, path_prefix, None))

    # request handling

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _handle(self, handler: _Handler) -> None:
        target = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode(errors="replace") if length else ""
        raw = body if handler.command == "POST" else target.query
        headers = {name.lower(): value for name, value in handler.headers.items()}
        request = RecordedRequest(handler.command, target.path, decode_params(raw), headers, raw)
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault(request.path)
        if self.delay:
            time.sleep(self.delay)
        if fault is not None and fault.failure is None:
            handler.close_connection = True  # no answer at all: the client sees EOF
            return
        try:
            if fault is not None and fault.failure is not None:
                raise fault.failure
            with self._lock:
                answer = self._dispatch(request)
        except StripeFailure as failure:
            answer = _json_answer(failure.status, {"error": failure.error}, failure.headers)
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.send_header("Request-Id", _new_id("req_", 14))
        if request.path.startswith("/v1/"):
            handler.send_header("Stripe-Version", headers.get("stripe-version", API_VERSION))
        if "idempotency-key" in headers:
            handler.send_header("Idempotency-Key", headers["idempotency-key"])
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body)

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path_prefix is None or path.startswith(fault.path_prefix):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _dispatch(self, request: RecordedRequest) -> _Answer:
        method, path = request.method, request.path
        if method == "GET" and path.startswith("/p/session/"):
            return self._portal_page(path.removeprefix("/p/session/"))
        if path.startswith("/v1/"):
            self._authenticate(request.headers.get("authorization", ""))
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("POST", r"/v1/billing_portal/sessions", self._create_session),
            ("POST", r"/v1/billing_portal/configurations", self._create_configuration),
            (
                "POST",
                r"/v1/billing_portal/configurations/(?P<id>[^/]+)",
                self._update_configuration,
            ),
            ("GET", r"/v1/billing_portal/configurations", self._list_configurations),
            (
                "GET",
                r"/v1/billing_portal/configurations/(?P<id>[^/]+)",
                self._retrieve_configuration,
            ),
            ("POST", r"/v1/customers", self._create_customer),
            ("GET", r"/v1/customers", self._list_customers),
            ("GET", r"/v1/customers/(?P<id>[^/]+)", self._retrieve_customer),
            ("POST", r"/v1/customers/(?P<id>[^/]+)", self._update_customer),
            ("DELETE", r"/v1/customers/(?P<id>[^/]+)", self._delete_customer),
            ("GET", r"/v1/subscriptions", self._list_subscriptions),
            ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", self._retrieve_subscription),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                args = [unquote_plus(v) for v in match.groupdict().values()]
                if method in ("POST", "DELETE"):
                    return self._idempotently(request, partial(action, request.params, *args))
                return _json_answer(200, action(request.params, *args))
        raise StripeFailure(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _authenticate(self, authorization: str) -> None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise StripeFailure(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if key.strip() not in self.api_keys:
            raise StripeFailure(401, f"Invalid API Key provided: {_masked(key.strip())}")

    def _idempotently(self, request: RecordedRequest, action: Callable[[], Any]) -> _Answer:
        key = request.headers.get("idempotency-key")
        endpoint = f"{request.method} {request.path}"
        if key and key in self._idempotent:
            first_endpoint, first_params, answer = self._idempotent[key]
            retry = (
                f"Try using a key other than '{key}' if you meant to execute a different request."
            )
            if first_endpoint != endpoint:
                raise StripeFailure(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they "
                    f"were first used for ('{first_endpoint}' vs '{endpoint}'). {retry}",
                    type="idempotency_error",
                )
            if first_params != request.params:
                raise StripeFailure(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. {retry}",
                    type="idempotency_error",
                )
            return _Answer(answer.status, answer.body, headers={"Idempotent-Replayed": "true"})
        answer = _json_answer(200, action())
        if key:  # only successful answers are saved (failed validation saves nothing)
            self._idempotent[key] = (endpoint, request.params, answer)
        return answer

    # endpoints

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        _validate(params, SESSION_CREATE_PARAMS, "")
        customer, account = params.get("customer"), params.get("customer_account")
        if customer and account:
            raise StripeFailure(
                400,
                "You may only specify one of these parameters: customer, customer_account.",
                param="customer_account",
            )
        if not customer and not account:
            raise _missing("customer")
        if customer:
            self._check_customer(customer, "customer")
        if account and account not in self.accounts:
            raise _no_such("account", account, "customer_account")
        configuration = params.get("configuration", self.default_configuration)
        config = self.configurations.get(configuration)
        if config is None:
            raise _no_such("configuration", configuration, "configuration")
        if not config["active"]:
            raise StripeFailure(
                400,
                f"The configuration {configuration} is not active. Activate it, or use another "
                "configuration.",
                param="configuration",
            )
        if "return_url" in params:
            _check_url(params["return_url"], "return_url")
        flow = None
        if "flow_data" in params:
            self._check_flow(params["flow_data"], customer, account, config)
            flow = _flow_object(params["flow_data"])
        token = "test_" + secrets.token_urlsafe(32)
        session = {
            "id": _new_id("bps_"),
            "object": "billing_portal.session",
            "after_expiration": _expiration_object(params.get("after_expiration")),
            "configuration": configuration,
            "created": int(time.time()),
            "customer": customer,
            "customer_account": account,
            "flow": flow,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": params.get("on_behalf_of"),
            "return_url": params.get("return_url"),
            "url": f"{self.url}/p/session/{token}",
        }
        self.sessions[session["id"]] = session
        self._pages[token] = session["id"]
        return session

    def _check_customer(self, customer: str, param: str) -> None:
        """A customer the request may use: not deleted, and of the key's mode (test)."""
        found = self.customers.get(customer, {"deleted": True})
        if found.get("deleted"):
            raise _no_such("customer", customer, param)
        if found.get("livemode"):
            raise _other_mode(customer, param)

    def _check_flow(
        self,
        flow_data: dict[str, Any],
        customer: str | None,
        account: str | None,
        config: dict[str, Any],
    ) -> None:
        flow_type = flow_data["type"]
        feature = FLOW_FEATURES[flow_type]
        if not config["features"][feature]["enabled"]:
            raise StripeFailure(
                400,
                f"The {flow_type} flow cannot be used because the {feature} feature is disabled "
                f"in the portal configuration {config['id']}.",
                param="flow_data[type]",
            )
        completion = flow_data.get("after_completion")
        if completion and completion["type"] == "redirect":
            if "redirect" not in completion:
                raise _missing("flow_data[after_completion][redirect]")
            _check_url(
                completion["redirect"]["return_url"],
                "flow_data[after_completion][redirect][return_url]",
            )
        if flow_type not in SUBSCRIPTION_FLOWS:
            return
        if flow_type not in flow_data:
            raise _missing(f"flow_data[{flow_type}]")
        sub_id = flow_data[flow_type]["subscription"]
        param = f"flow_data[{flow_type}][subscription]"
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise _no_such("subscription", sub_id, param)
        owner = customer or account
        if owner not in (sub["customer"], sub["customer_account"]):
            raise StripeFailure(
                400, f"The subscription {sub_id} does not belong to {owner}.", param=param
            )
        refusal = _state_refusal(flow_type, sub)
        if refusal:
            raise StripeFailure(400, refusal, param=param)
        if flow_type == "subscription_update_confirm":
            items = flow_data[flow_type]["items"]
            if len(items) != 1:
                raise StripeFailure(
                    400,
                    "Exactly one subscription item must be specified.",
                    param="flow_data[subscription_update_confirm][items]",
                )
            known = {item["id"] for item in sub["items"]["data"]}
            if items[0]["id"] not in known:
                raise _no_such(
                    "subscription item",
                    items[0]["id"],
                    "flow_data[subscription_update_confirm][items][0][id]",
                )
            if "price" in items[0]:
                self._check_offered(items[0]["price"], config)
            for i, discount in enumerate(flow_data[flow_type].get("discounts", [])):
                code = discount.get("promotion_code")
                if code is not None and code not in self.promotion_codes:
                    param = (
                        f"flow_data[subscription_update_confirm][discounts][{i}][promotion_code]"
                    )
                    raise _no_such("promotion code", code, param)

    def _check_offered(self, price: str, config: dict[str, Any]) -> None:
        """A subscription_update_confirm price: one that exists, among the configuration's."""
        param = "flow_data[subscription_update_confirm][items][0][price]"
        if price not in self.prices:
            raise _no_such("price", price, param)
        offered = config["features"]["subscription_update"]["products"] or []
        if not any(price in product["prices"] for product in offered):
            raise StripeFailure(
                400,
                f"The price {price} is not in the portal configuration's "
                "features.subscription_update.products.",
                param=param,
            )

    def _create_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = _configuration_params(params)
        config = _configuration_object(_new_id("bpc_"), {})
        _merge(config, fields)
        _check_features(config)
        self.configurations[config["id"]] = config
        return config

    def _update_configuration(self, params: dict[str, Any], config_id: str) -> dict[str, Any]:
        if config_id not in self.configurations:
            raise _no_such("configuration", config_id, "configuration", status=404)
        active = params.pop("active", None)
        if active not in (None, "true", "false"):
            raise StripeFailure(400, f"Invalid boolean: {active}", param="active")
        current = self.configurations[config_id]
        # ConfigurationModifyParams leaves most of what a create requires optional: what the
        # configuration has stands in for what the update leaves out.
        fields = _configuration_params(_over(_as_params(current), params))
        config = json.loads(json.dumps(current))  # a copy to change
        _merge(config, {k: v for k, v in fields.items() if k in params})
        if active is not None:
            config["active"] = active == "true"
        _check_features(config)
        config["updated"] = int(time.time())
        self.configurations[config_id] = config
        return config

    def _retrieve_configuration(self, params: dict[str, Any], config_id: str) -> dict[str, Any]:
        _validate(params, RETRIEVE_PARAMS, "")
        if config_id not in self.configurations:
            raise _no_such("configuration", config_id, "configuration", status=404)
        return self.configurations[config_id]

    def _list_configurations(self, params: dict[str, Any]) -> dict[str, Any]:
        _validate(params, CONFIGURATION_LIST_PARAMS, "")
        limit = int(params.get("limit", 10))
        matching = [
            config
            for config in reversed(self.configurations.values())  # newest first
            if params.get("active", str(config["active"]).lower()) == str(config["active"]).lower()
            and params.get("is_default", str(config["is_default"]).lower())
            == str(config["is_default"]).lower()
        ]
        ids = [config["id"] for config in matching]
        after = params.get("starting_after")
        if after in ids:
            matching = matching[ids.index(after) + 1 :]
        return {
            "object": "list",
            "data": matching[:limit],
            "has_more": len(matching) > limit,
            "url": "/v1/billing_portal/configurations",
        }

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        _validate(params, CUSTOMER_CREATE_PARAMS, "")
        _check_profile(params)
        fields = {k: v for k, v in params.items() if k != "expand"}
        customer = self._customer_object(_new_id("cus_", 14), fields)
        self.customers[customer["id"]] = customer
        return customer

    def _update_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        _validate(params, CUSTOMER_CREATE_PARAMS, "")
        customer = self._usable_customer(customer_id)
        _check_profile(params)
        metadata = {**customer["metadata"], **params.get("metadata", {})}
        customer.update({k: v for k, v in params.items() if k != "expand"}, metadata=metadata)
        return customer

    def _delete_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        self._usable_customer(customer_id)
        deleted = {"id": customer_id, "object": "customer", "deleted": True}
        self.customers[customer_id] = deleted
        for sub in self.subscriptions.values():
            if sub["customer"] == customer_id:
                sub["status"] = "canceled"
        return deleted

    def _usable_customer(self, customer_id: str) -> dict[str, Any]:
        """A customer an update or deletion may name: Stripe answers 404 for a deleted one too."""
        customer = self.customers.get(customer_id)
        if customer is None or customer.get("deleted"):
            raise _no_such("customer", customer_id, "id", status=404)
        if customer.get("livemode"):
            raise _other_mode(customer_id, "id", status=404)
        return customer

    def _list_customers(self, params: dict[str, Any]) -> dict[str, Any]:
        _validate(params, LIST_PARAMS, "")
        limit = int(params.get("limit", 10))
        # Newest first, as Stripe lists; deleted customers are not listed.
        listed = [c for c in reversed(self.customers.values()) if not c.get("deleted")]
        ids = [c["id"] for c in listed]
        after = params.get("starting_after")
        if after is not None:
            listed = listed[ids.index(after) + 1 :] if after in ids else listed
        return {
            "object": "list",
            "data": listed[:limit],
            "has_more": len(listed) > limit,
            "url": "/v1/customers",
        }

    def _customer_object(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": int(time.time()),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": customer_id[4:12].upper(),
            "livemode": False,
            "metadata": {},
            "name": None,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
            **fields,
        }

    def _retrieve_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        """Deleted customers are still retrieved (``deleted: true``); another mode's are not."""
        _validate(params, RETRIEVE_PARAMS, "")
        if customer_id not in self.customers:
            raise _no_such("customer", customer_id, "id", status=404)
        if self.customers[customer_id].get("livemode"):
            raise _other_mode(customer_id, "id", status=404)
        return self.customers[customer_id]

    def _retrieve_subscription(self, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
        _validate(params, RETRIEVE_PARAMS, "")
        if sub_id not in self.subscriptions:
            raise _no_such("subscription", sub_id, "id", status=404)
        return self.subscriptions[sub_id]

    def _list_subscriptions(self, params: dict[str, Any]) -> dict[str, Any]:
        _validate(params, SUBSCRIPTION_LIST_PARAMS, "")
        customer = params.get("customer")
        if customer is not None:
            self._check_customer(customer, "customer")
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise StripeFailure(
                400, f"limit must be between 1 and 100 (it currently is {limit}).", param="limit"
            )
        status = params.get("status")
        matching = [
            sub
            for sub in reversed(self.subscriptions.values())  # newest first, as Stripe lists
            if params.get("customer", sub["customer"]) == sub["customer"]
            and params.get("customer_account", sub["customer_account"]) == sub["customer_account"]
            and _status_matches(sub["status"], status)
            and (
                "price" not in params
                or any(i["price"]["id"] == params["price"] for i in sub["items"]["data"])
            )
        ]
        if "starting_after" in params:
            ids = [sub["id"] for sub in matching]
            after = params["starting_after"]
            matching = matching[ids.index(after) + 1 :] if after in ids else matching
        return {
            "object": "list",
            "data": matching[:limit],
            "has_more": len(matching) > limit,
            "url": "/v1/subscriptions",
        }

    def _portal_page(self, token: str) -> _Answer:
        session = self.sessions.get(self._pages.get(token, ""))
        if session is None:
            page = "<!doctype html><title>Not found</title><h1>No such portal session</h1>"
            return _Answer(404, page.encode(), "text/html; charset=utf-8")
        config = self.configurations.get(session["configuration"])
        return _Answer(200, portal_page(session, config).encode(), "text/html; charset=utf-8")


PORTAL_PAGE_STYLE = """
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; }
  header { border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.5rem; }
  dt { color: #555; }
  dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
  dd.unset { color: #999; font-family: inherit; font-style: italic; }
  a.return { display: inline-block; margin-top: 1rem; }
"""  # fmt: skip


def portal_features(config: dict[str, Any]) -> list[str]:
    """What a configuration lets the customer do, one line per enabled feature."""
    features = config["features"]
    lines = []
    update = features["customer_update"]
    if update["enabled"]:
        lines.append("Update billing details: " + (", ".join(update["allowed_updates"]) or "none"))
    if features["invoice_history"]["enabled"]:
        lines.append("Invoice history")
    if features["payment_method_update"]["enabled"]:
        lines.append("Update payment method")
    cancel = features["subscription_cancel"]
    if cancel["enabled"]:
        reasons = cancel["cancellation_reason"]
        asked = f"; asks why: {', '.join(reasons['options'])}" if reasons["enabled"] else ""
        lines.append(
            f"Cancel subscriptions: {cancel['mode']}, proration {cancel['proration_behavior']}"
            + asked
        )
    if features["subscription_pause"]["enabled"]:
        lines.append("Pause subscriptions")
    change = features["subscription_update"]
    if change["enabled"]:
        products = "; ".join(
            f"{product['product']} ({', '.join(product['prices'])})"
            for product in change["products"] or []
        )
        allowed = ", ".join(change["default_allowed_updates"]) or "nothing"
        lines.append(f"Change plan ({allowed}): {products or 'no products'}")
    return lines


def portal_page(session: dict[str, Any], config: dict[str, Any] | None = None) -> str:
    """The stand-in's portal page: everything the session was created with, one field a row
    (a definition list), then the features its configuration enables; every value
    HTML-escaped."""
    rows: list[tuple[str, Any]] = []
    if session["customer_account"]:
        rows.append(("Customer account", session["customer_account"]))
    else:
        rows.append(("Customer", session["customer"]))
    flow = session["flow"]
    if flow is None:
        rows.append(("Flow", "(portal home page)"))
    else:
        flow_type = flow["type"]
        rows.append(("Flow", flow_type))
        data = flow.get(flow_type) or {}
        if "subscription" in data:
            rows.append(("Subscription", data["subscription"]))
        for item in data.get("items") or []:
            rows += [
                ("Subscription item", item["id"]),
                ("Price", item["price"]),
                ("Quantity", item["quantity"]),
            ]
        for discount in data.get("discounts") or []:
            rows += [("Coupon", discount["coupon"]), ("Promotion code", discount["promotion_code"])]
        retention = data.get("retention")
        if retention:
            rows.append(("Retention coupon", retention["coupon_offer"]["coupon"]))
        completion = flow["after_completion"]
        rows.append(("After completion", completion["type"]))
        if completion["redirect"]:
            rows.append(("Redirect URL", completion["redirect"]["return_url"]))
        if completion["hosted_confirmation"]:
            message = completion["hosted_confirmation"]["custom_message"]
            rows.append(("Confirmation message", message))
    rows += [
        ("Return URL", session["return_url"]),
        ("Locale", session["locale"]),
        ("Configuration", session["configuration"]),
        ("On behalf of", session["on_behalf_of"]),
    ]
    expiration = session["after_expiration"]
    if expiration:
        login = expiration["customer_login"] or {}
        rows.append(("After expiration", expiration["type"]))
        if login.get("expires_at") is not None:
            rows.append(("Login link expires at", login["expires_at"]))
    fields = "\n".join(
        f"  <dt>{html.escape(name)}</dt>"
        + (
            "<dd class='unset'>not set</dd>"
            if value is None
            else f"<dd>{html.escape(str(value))}</dd>"
        )
        for name, value in rows
    )
    back = session["return_url"]
    link = f"<a class='return' href='{html.escape(back)}'>Return</a>\n" if back else ""
    features = ""
    if config is not None:
        items = "\n".join(f"  <li>{html.escape(line)}</li>" for line in portal_features(config))
        headline = config["business_profile"]["headline"]
        features = (
            "<section class='features'><h2>Portal features</h2>\n"
            + (f"<p class='headline'>{html.escape(headline)}</p>\n" if headline else "")
            + f"<ul>\n{items or '  <li>none enabled</li>'}\n</ul></section>\n"
        )
    return (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{PORTAL_PAGE_TITLE}</title>\n<link rel='icon' href='data:,'>\n"
        f"<style>{PORTAL_PAGE_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{PORTAL_PAGE_TITLE}</h1>\n"
        f"<p>Portal session <code>{html.escape(session['id'])}</code>, as it was created: "
        "Stripe's real portal would show this customer's billing here.</p></header>\n"
        f"<dl>\n{fields}\n</dl>\n{features}{link}</body>\n</html>\n"
    )


def _price_object(price_id: str, product: str, usage_type: str = "licensed") -> dict[str, Any]:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "product": product,
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": usage_type},
        "type": "recurring",
    }


def _state_refusal(flow_type: str, sub: dict[str, Any]) -> str | None:
    """Why Stripe will not run this flow on the subscription as it is now, if it will not."""
    status, items = sub["status"], sub["items"]["data"]
    if status in ("canceled", "incomplete_expired"):
        return f"The subscription {sub['id']} has been canceled; no portal flow can act on it."
    if flow_type == "subscription_cancel" and sub["cancel_at_period_end"]:
        return f"The subscription {sub['id']} is already set to be canceled at the period end."
    if flow_type == "subscription_pause" and status == "paused":
        return f"The subscription {sub['id']} is already paused."
    if flow_type in ("subscription_update", "subscription_update_confirm"):
        if len(items) > 1:
            return (
                f"The subscription {sub['id']} has multiple items; the portal can only cancel it."
            )
        if any(item["price"]["recurring"]["usage_type"] == "metered" for item in items):
            return (
                f"The subscription {sub['id']} has usage-based prices; the portal can only "
                "cancel it."
            )
    return None


def _configuration_object(
    config_id: str, features: dict[str, Any], *, is_default: bool = False
) -> dict[str, Any]:
    """A portal configuration as Stripe returns it: its defaults, then ``features``."""
    now = int(time.time())
    config: dict[str, Any] = {
        "id": config_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        "created": now,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": False},
            "invoice_history": {"enabled": False},
            "payment_method_update": {"enabled": False, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "feedback_options": None, "options": []},
                "enabled": False,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_pause": {
                "duration": {"interval_options": [], "type": "indefinite"},
                "enabled": False,
            },
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": [],
                "enabled": False,
                "products": [],
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": is_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": now,
    }
    _merge(config, {"features": features})
    return config


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """Stripe's update semantics: objects merge field by field, anything else is replaced, and
    an empty string unsets (an empty list for a list)."""
    for key, value in changes.items():
        if value == "":
            target[key] = [] if isinstance(target.get(key), list) else None
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif key == "products":
            target[key] = [_product_object(product) for product in value]
        else:
            target[key] = value


def _product_object(product: dict[str, Any]) -> dict[str, Any]:
    quantity = {"enabled": False, "maximum": None, "minimum": 1}
    quantity.update(product.get("adjustable_quantity") or {})
    return {**product, "adjustable_quantity": quantity}


_TYPE_TAG = re.compile(r"[a-z_][a-z0-9_]*\Z")


def _configuration_params(params: dict[str, Any]) -> dict[str, Any]:
    """The wire parameters of a configuration, checked and typed by the SDK mirror (pydantic
    parses "true" and "5"); the first problem is answered as Stripe words it."""
    try:
        model = ConfigurationCreate.model_validate(params)
    except ValidationError as exc:
        raise _wire_error(exc.errors()[0]) from None
    return model.model_dump(exclude_none=True, exclude={"expand"})


def _as_params(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration object as the parameters that would create it (for an update: what it
    has, under what was sent)."""
    params = {key: config[key] for key in CONFIGURATION_FIELDS}
    params["login_page"] = {"enabled": config["login_page"]["enabled"]}
    return json.loads(json.dumps(params))


def _over(base: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """``sent`` over ``base``: objects merge, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in sent.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "metadata":
            merged[key] = _over(base[key], value)
        else:
            merged[key] = value
    return merged


def _wire_error(error: Any) -> StripeFailure:
    parts = [str(p) for p in error["loc"] if isinstance(p, int) or _TYPE_TAG.match(str(p))]
    parts = [p for p in parts if p not in ("str", "int", "bool", "list", "dict")]
    param = parts[0] + "".join(f"[{p}]" for p in parts[1:]) if parts else ""
    if error["type"] == "extra_forbidden":
        return _unknown(param)
    if error["type"] == "missing":
        return _missing(param)
    message = str(error["msg"]).removeprefix("Input should be ")
    return StripeFailure(400, f"Invalid {param}: must be {message}", param=param or None)


def _check_features(config: dict[str, Any]) -> None:
    """Rules Stripe applies across features (its own words)."""
    features = config["features"]
    if (
        features["subscription_update"]["enabled"]
        and not features["payment_method_update"]["enabled"]
    ):
        raise StripeFailure(
            400, "Cannot enable subscription updates while payment method update is disabled."
        )


def _status_matches(status: str, wanted: str | None) -> bool:
    if wanted is None:
        return status != "canceled"  # Stripe's default: everything not canceled
    if wanted == "all":
        return True
    if wanted == "ended":
        return status in ("canceled", "incomplete_expired")
    return status == wanted


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _expiration_object(after_expiration: dict[str, Any] | None) -> dict[str, Any] | None:
    if after_expiration is None:
        return None
    login = after_expiration.get("customer_login")
    return {
        "customer_login": None if login is None else {"expires_at": _int(login.get("expires_at"))},
        "type": after_expiration["type"],
    }


def _flow_object(flow_data: dict[str, Any]) -> dict[str, Any]:
    """The session's ``flow``, built from validated ``flow_data`` the way Stripe echoes it."""
    flow_type = flow_data["type"]
    completion = flow_data.get("after_completion", {"type": "portal_homepage"})
    confirmation = completion.get("hosted_confirmation")
    redirect = completion.get("redirect")
    flow: dict[str, Any] = {
        "after_completion": {
            "hosted_confirmation": confirmation
            and {"custom_message": confirmation.get("custom_message")},
            "redirect": redirect and {"return_url": redirect["return_url"]},
            "type": completion["type"],
        },
        "customer_update": {} if flow_type == "customer_update" else None,
        **dict.fromkeys(SUBSCRIPTION_FLOWS),
        "type": flow_type,
    }
    data: dict[str, Any] = flow_data.get(flow_type) or {}
    if flow_type == "subscription_cancel":
        retention = data.get("retention")
        flow[flow_type] = {
            "retention": retention
            and {"coupon_offer": dict(retention["coupon_offer"]), "type": retention["type"]},
            "subscription": data["subscription"],
        }
    elif flow_type in ("subscription_pause", "subscription_update"):
        flow[flow_type] = {"subscription": data["subscription"]}
    elif flow_type == "subscription_update_confirm":
        flow[flow_type] = {
            "discounts": [
                {"coupon": d.get("coupon"), "promotion_code": d.get("promotion_code")}
                for d in data.get("discounts", [])
            ],
            "items": [
                {"id": i["id"], "price": i.get("price"), "quantity": _int(i.get("quantity"))}
                for i in data["items"]
            ],
            "subscription": data["subscription"],
        }
    return flow
