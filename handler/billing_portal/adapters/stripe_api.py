"""Stripe: one connection pool per container, and a client sized to the time left for each call."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import requests
import stripe
from aws_lambda_powertools import Logger

from billing_portal import budget
from billing_portal.adapters.stripe_errors import session_refusal, stripe_errors
from billing_portal.domain.customer import Customer
from billing_portal.domain.subscription import Subscription
from billing_portal.errors import UpstreamUnavailable

logger = Logger(child=True)
# Clients kept at once: the full-size plans are two or three; past this, start again.
MAX_CLIENTS = 8
# The SDK's DEBUG lines carry request and response bodies (emails, session URLs); never let a
# debugging log level put them in the logs.
logging.getLogger("stripe").setLevel(logging.INFO)
# No request telemetry: the SDK would send each call's latency to Stripe with the next call, and
# build and encode it on every call.
stripe.enable_telemetry = False


class StripeApi:
    """Built once per container, so a warm invocation reuses the open connection to Stripe."""

    def __init__(
        self,
        api_key: Callable[[], str],
        *,
        api_base: str | None = None,
        deadline: budget.Deadline | None = None,
        deployment: str = "",
    ) -> None:
        self._api_key = api_key
        # Which deployment creates customers (its customers table): see create_customer.
        self._deployment = deployment
        self._base = {"api": api_base} if api_base else {}
        # The invocation's end, read at each call to plan that call.
        self._deadline = deadline or budget.Deadline()
        self._session = _http_session(api_base or stripe.api_base)
        self._clients: dict[tuple[str, budget.Plan], stripe.StripeClient] = {}

    def client(self, reserve_ms: int = 0) -> stripe.StripeClient:
        """A client whose retries and timeouts fit in the time left now.

        Call it right before each request and don't keep it: the SDK fixes the timeout per HTTP
        client, so there is one client per plan (and key: a rotated key gets its own as soon as
        its cache expires), all on the one shared connection pool. `reserve_ms` is kept back for
        what the request still has to do after this call.
        """
        api_key = self._api_key()  # first: on a cold start, reading it spends some of the budget
        plan = budget.stripe_plan(self._deadline.remaining_ms() - reserve_ms)
        if plan is None:
            logger.warning("No time left to call Stripe", extra={"upstream_reason": "no-time"})
            raise UpstreamUnavailable(
                "The payment provider did not answer in time; try again shortly.",
                upstream="stripe",
                reason="no-time",
            )
        client = self._clients.get((api_key, plan))
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:  # plans shrunk to the deadline all differ
                self._clients.clear()
            client = self._clients[api_key, plan] = stripe.StripeClient(
                api_key=api_key,
                base_addresses=self._base,  # type: ignore[arg-type]
                max_network_retries=plan.retries,
                http_client=stripe.RequestsClient(
                    timeout=(plan.connect_timeout, plan.read_timeout), session=self._session
                ),
            )
        return client

    def warm(self) -> None:
        """Do now what the first request would: read the key, build a client, and load the SDK's
        services (it imports them on first use). No request is sent."""
        client = self.client()
        _ = (client.v1.billing_portal.sessions, client.v1.customers, client.v1.subscriptions)

    def drop_connections(self) -> None:
        """Close pooled connections (the session stays usable and dials again when needed)."""
        self._session.close()

    def create_portal_session(self, params: dict[str, Any]) -> str:
        """The new session's URL. A refusal of what the caller chose is theirs (a 400, or a 409
        for a flow Stripe will not run); one of our own setup stays a 500 (stripe_errors)."""
        flow = (params.get("flow_data") or {}).get("type")
        with stripe_errors():
            try:
                session = self.client().v1.billing_portal.sessions.create(
                    params,  # type: ignore[arg-type]
                )
            except stripe.InvalidRequestError as exc:
                refusal = session_refusal(exc, flow)
                if refusal is None:
                    raise
                raise refusal from None
        return str(session.url)

    def list_subscriptions(self, customer: Customer) -> tuple[list[Subscription], bool]:
        """The customer's not-canceled subscriptions (one call, up to 100) and whether that is
        all of them. Accounts v2 customers are listed by customer_account."""
        with stripe_errors():
            page = self.client().v1.subscriptions.list(
                {customer.param: customer.id, "limit": 100},  # type: ignore[arg-type]
            )
        return [_subscription(sub.to_dict(), customer) for sub in page.data], not page.has_more

    def find_subscription(self, customer: Customer, subscription_id: str) -> Subscription | None:
        """The subscription with that id, or None when Stripe has none."""
        with stripe_errors():
            try:
                found = self.client().v1.subscriptions.retrieve(subscription_id)
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                return None
        return _subscription(found.to_dict(), customer)

    def portal_configuration(self, configuration_id: str | None) -> dict[str, Any] | None:
        """The portal configuration a session names (None: the account's default one, as Stripe
        picks it for a session without `configuration`), as Stripe returns it; None when this
        account and mode have no such configuration. For the readiness check, never a click."""
        with stripe_errors():
            if configuration_id is None:
                page = self.client().v1.billing_portal.configurations.list(
                    {"is_default": True, "limit": 1}
                )
                return page.data[0].to_dict() if page.data else None
            try:
                found = self.client().v1.billing_portal.configurations.retrieve(configuration_id)
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                return None
        return found.to_dict()

    def create_customer(self, user_key: str, fields: dict[str, str], reserve_ms: int = 0) -> str:
        """A new Stripe customer for the user, with `fields` (email, name); its id.

        The idempotency key is derived from the deployment and the user key, so retries and
        concurrent first clicks of one user (same token, same parameters) get the same customer
        back from Stripe for as long as Stripe keeps the key (24 hours), while another deployment
        on the same Stripe account (its own table) never gets this one's customer. The customer's
        metadata names the user key and the deployment's table.
        """
        try:
            with stripe_errors():
                customer = self._create_customer(user_key, fields, reserve_ms)
        except stripe.IdempotencyError:
            # Same key, other parameters: an earlier attempt (whose mapping write failed) had
            # other claims. Stripe frees the key after 24 hours; until then creating would fail.
            logger.warning("Stripe refused to replay the customer creation with other claims")
            raise UpstreamUnavailable(
                "The billing account is still being set up; try again later.",
                retry_after=60,
                upstream="stripe",
                reason="idempotency",
            ) from None
        return str(customer.id)

    def _create_customer(
        self, user_key: str, fields: dict[str, str], reserve_ms: int
    ) -> stripe.Customer:
        # The prefix keeps our keys apart from those of other code using the same Stripe account;
        # the hash hides the user key, and the NUL cannot occur in a table name or a user key.
        scope = f"{self._deployment}\0{user_key}".encode()
        idempotency_key = "billing-portal-customer-" + hashlib.sha256(scope).hexdigest()
        create = self.client(reserve_ms).v1.customers.create
        metadata = {"user_key": user_key, "customers_table": self._deployment}
        params: Any = {**fields, "metadata": metadata}
        try:
            return create(params, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as exc:
            if exc.param not in fields:
                raise
            # A profile Stripe refuses (fields come from the user's claims) must not make the
            # first click fail: the customer is made without that field. A refused request
            # stores no idempotent result, so the same key serves the second try.
            logger.warning("Stripe refused a profile field", extra={"stripe_param": exc.param})
            params.pop(exc.param)
            return create(params, {"idempotency_key": idempotency_key})


def _http_session(api_base: str) -> requests.Session:
    """The container's connection pool to Stripe, which reads the environment once, here.

    requests' default (`trust_env`) scans the whole environment for proxy settings, twice, and
    looks for ~/.netrc on every request; Lambda's environment does not change while the
    container lives. HTTPS_PROXY (unless NO_PROXY covers Stripe's host) still applies. TLS is
    verified against the CA bundle the SDK ships (`stripe.ca_bundle_path`, which it passes on
    every request), never requests' REQUESTS_CA_BUNDLE.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(api_base)
    return session


def _subscription(data: dict[str, Any], customer: Customer) -> Subscription:
    items = data.get("items") or {}
    return Subscription(
        id=data["id"],
        status=data["status"],
        item_ids=tuple(item["id"] for item in items.get("data", [])),
        owner=data.get(customer.param),
    )
