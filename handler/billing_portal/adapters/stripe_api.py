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
from billing_portal.adapters.stripe_errors import other_mode, session_refusal, stripe_errors
from billing_portal.domain.customer import Customer
from billing_portal.domain.subscription import Subscription
from billing_portal.errors import Problem, UpstreamUnavailable

logger = Logger(child=True)
# Clients kept at once: the full-size plans are two or three; past this, start again.
MAX_CLIENTS = 8


def configure_library() -> None:
    """The stripe library's process-wide settings, set by factory.build (not at import, so that
    importing this module changes nothing)."""
    # The SDK's DEBUG lines carry request and response bodies (emails, session URLs); never let
    # a debugging log level put them in the logs.
    logging.getLogger("stripe").setLevel(logging.INFO)
    # No request telemetry: the SDK would send each call's latency to Stripe with the next call,
    # and build and encode it on every call.
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

    def create_customer(
        self, user_key: str, reserve_ms: int = 0, replaces: str | None = None
    ) -> str:
        """A new Stripe customer for the user; its id.

        The request carries only what is fixed for the user key (metadata: the user key and the
        deployment's table), so every click of one user sends the same request whatever its
        token's name or email: Stripe replays one customer for retries, concurrent first clicks
        and a click after a failed mapping write, for as long as it keeps the idempotency key
        (24 hours), and never answers idempotency_error. The key is derived from the deployment
        and the user key, so another deployment on the same Stripe account (its own table) never
        gets this one's customer; and, for a replacement, from the deleted customer too, so
        Stripe never replays the creation that made the deleted one. The profile follows in
        set_profile.
        """
        # The prefix keeps our keys apart from those of other code using the same Stripe account;
        # the hash hides the user key, and the NUL cannot occur in a table name, user key or id.
        scope = "\0".join((self._deployment, user_key, *([replaces] if replaces else [])))
        idempotency_key = "billing-portal-customer-" + hashlib.sha256(scope.encode()).hexdigest()
        metadata = {"user_key": user_key, "customers_table": self._deployment}
        if replaces:
            metadata["replaces"] = replaces  # for support: where this customer's history was
        try:
            with stripe_errors():
                customer = self.client(reserve_ms).v1.customers.create(
                    {"metadata": metadata}, {"idempotency_key": idempotency_key}
                )
        except stripe.IdempotencyError:
            # The request is the same for a key on every click, so this is someone else's request
            # under our key: a bug to find, not the user's to wait out.
            logger.error("Stripe refused to replay the customer creation")
            raise UpstreamUnavailable(
                "The billing account is still being set up; try again later.",
                upstream="stripe",
                reason="idempotency",
            ) from None
        return str(customer.id)

    def set_profile(self, customer_id: str, fields: dict[str, str], reserve_ms: int = 0) -> None:
        """Copy the claims' email and name onto the customer, best effort: they may differ
        between clicks (a rename between two devices' tokens), and failing here never fails the
        click. A field Stripe refuses is left out and the rest is still set."""
        params = dict(fields)
        try:
            with stripe_errors():
                while params:
                    try:
                        self.client(reserve_ms).v1.customers.update(
                            customer_id,
                            params,  # type: ignore[arg-type]
                        )
                        return
                    except stripe.InvalidRequestError as exc:
                        if exc.param not in params:
                            raise
                        # The user's own profile (their claims) must not make the click fail.
                        logger.warning(
                            "Stripe refused a profile field", extra={"stripe_param": exc.param}
                        )
                        params.pop(exc.param)
        except Problem as problem:
            logger.warning(
                "The new customer's name and email were not set",
                extra={"problem": problem.slug, "customer": customer_id},
            )

    def customer_status(self, customer_id: str) -> str:
        """What Stripe knows of a customer it answered "No such customer" for: "deleted",
        "unknown" (no record in this account and mode) or "alive"."""
        with stripe_errors():
            try:
                customer = self.client().v1.customers.retrieve(customer_id)
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing" or other_mode(exc):
                    raise  # the mode mismatch is stripe_errors()'s to tell
                return "unknown"
        return "deleted" if getattr(customer, "deleted", False) else "alive"


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
