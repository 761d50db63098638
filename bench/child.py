"""bench.perf's child process: one app (ours or the naive shape) in a runtime that holds only the
stdlib and the deployment package, as in Lambda; so this file imports nothing else at its top.

    python bench/child.py cold|warm APP VALUE OUT     # times, as JSON in OUT
    python bench/child.py PHASE APP REQUESTS          # a phase bench/instructions.py counts
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "handler"  # the directory holding the package: what goes on sys.path
EVENT = ROOT / "events" / "home.json"
# The module each child imports: ours is template.yaml's Handler's module.
APPS = {"ours": "billing_portal.app", "naive": "naive_app"}
# Stage -> where the warm path wraps it: (module, attribute path). Missing ones are skipped.
STAGES = {
    "ours": [
        ("parse", "billing_portal.web.api", "parse_request"),
        ("auth", "billing_portal.web.api", "identify"),
        ("lookup", "billing_portal.adapters.customer_table", "CustomerTable.find"),
        ("stripe", "billing_portal.adapters.stripe_api", "StripeApi.create_portal_session"),
        ("response", "billing_portal.web.api", "portal_response"),
    ],
    "naive": [
        ("parse", "naive_app", "parse_request"),
        ("auth", "naive_app", "identify"),
        ("lookup", "naive_app", "find_customer"),
        ("stripe", "naive_app", "create_session"),
        ("response", "naive_app", "portal_response"),
    ],
}
# Where each app makes its upstream calls, answered in memory for the "in memory" count.
IN_MEMORY = {
    "ours": [("billing_portal.portal", "Portal.session_url", "url")],
    "naive": [("naive_app", "find_customer", "item"), ("naive_app", "create_session", "url")],
}
ANSWERS: dict[str, Any] = {
    "url": "https://billing.stripe.com/p/session/test_in_memory",
    "item": {"user_id": "demo-user", "stripe_customer_id": "cus_InMemory"},
}


class Context:
    """The attributes powertools reads from Lambda's context object."""

    function_name = "billing-portal"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:billing-portal"
    aws_request_id = "bench"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def put_package_first() -> None:
    """The deployment package first on the path when there is one (as Lambda puts /var/task
    first), else handler/; then bench/, for the naive shape."""
    sys.path[:0] = [os.environ.get("BENCH_PACKAGE") or str(HANDLER), str(ROOT / "bench")]


def load(app: str) -> Any:
    """The app's module, from where put_package_first() points."""
    import importlib

    put_package_first()
    return importlib.import_module(APPS[app])


def patch(module_name: str, path: str, make: Callable[[Any], Any]) -> bool:
    """Replace the attribute at `path` ("Class.method" too) of an imported module by
    make(original), from outside: the handler's code is unchanged. False if it is missing."""
    owner: Any = sys.modules.get(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
    if owner is None or not hasattr(owner, name):
        return False
    setattr(owner, name, make(getattr(owner, name)))
    return True


class UpstreamsAlone:
    """A warm request's two upstream exchanges and nothing else: DynamoDB's GetItem (through the
    same keep-alive proxy the function's go through) and Stripe's session create, each on a
    kept-alive connection, built and read with http.client. What a request costs beyond these
    is the function's own work."""

    def __init__(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        dynamodb, stripe = (
            urlsplit(os.environ[name]) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "STRIPE_API_BASE")
        )
        self.dynamodb = http.client.HTTPConnection(dynamodb.hostname or "", dynamodb.port)
        self.stripe = http.client.HTTPConnection(stripe.hostname or "", stripe.port)
        self.opened = {"dynamodb": 0, "stripe": 0}  # left out of the function's counts
        self.spent = {"dynamodb": 0.0, "stripe": 0.0}  # the last exchange's, each (wall, s)
        key = {os.environ.get("CUSTOMERS_TABLE_KEY", "user_id"): {"S": "demo-user"}}
        self.get_item = json.dumps({"TableName": os.environ["CUSTOMERS_TABLE"], "Key": key})
        self.attribute = os.environ.get("CUSTOMER_ID_ATTRIBUTE", "stripe_customer_id")

    def exchange(self) -> None:
        from urllib.parse import urlencode

        headers = {
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/"
            "dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        }
        item = self._post("dynamodb", "/", self.get_item, headers)["Item"]
        form = {
            "customer": item[self.attribute]["S"],
            "return_url": os.environ["DEFAULT_RETURN_URL"],
        }
        headers = {
            "Authorization": "Bearer sk_test_fake",  # testing/fake_stripe.py's DEFAULT_API_KEY
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._post("stripe", "/v1/billing_portal/sessions", urlencode(form), headers)

    def _post(self, upstream: str, path: str, body: str, headers: dict[str, str]) -> Any:
        connection = getattr(self, upstream)
        if connection.sock is None:
            self.opened[upstream] += 1
        start = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
        self.spent[upstream] = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"stand-ins alone: {upstream} answered {response.status}: {data!r}")
        return json.loads(data)


def cold(app: str, t0: float, out: Path) -> None:
    """Spawn -> ready handler -> first response, as wall time (perf_counter is CLOCK_MONOTONIC,
    system-wide, so the parent's t0 applies) and as this process's CPU time since it started."""
    result: dict[str, Any] = {}

    def mark(name: str) -> None:
        result[name] = time.perf_counter() - t0
        result[f"{name}_cpu"] = time.process_time()

    if app == "bare":
        mark("ready")
        mark("first")
    else:
        module = load(app)
        mark("ready")
        response = module.lambda_handler(json.loads(EVENT.read_text()), Context())
        mark("first")
        result["status"] = response["statusCode"]
    out.write_text(json.dumps(result))


def warm(app: str, invocations: int, out: Path) -> None:
    """Invocations interleaved with the stand-ins alone, one pair per iteration, in one process:
    a slow spell (another process, the stand-ins' own pauses) hits both samples of a pair. The
    order alternates (H A, A H, H A, ...), so both samples of a pair follow the same kind of
    sample: the stand-ins still finish the previous requests' work (on 2 cores, stand-ins alone
    right after an invocation took ~0.8 ms longer than right after stand-ins alone)."""
    from functools import partial

    module = load(app)
    raw = EVENT.read_text()
    spent: dict[str, float] = {}

    def timed(stage: str) -> Callable[[Any], Any]:
        # A wrapper costs well under a microsecond a call: nothing next to what is measured.
        def make(func: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return func(*args, **kwargs)
                finally:
                    spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start

            return wrapper

        return make

    wrapped = [stage for stage, name, path in STAGES[app] if patch(name, path, timed(stage))]
    alone = UpstreamsAlone()
    first = module.lambda_handler(json.loads(raw), Context())
    alone.exchange()  # its connections open before the first sample, as the function's are
    # Wall time, and this process's CPU time (less sensitive to other load), per sample.
    samples: dict[str, list[float]] = {"total": [], "alone": [], "total_cpu": [], "alone_cpu": []}
    samples |= {"alone_dynamodb": [], "alone_stripe": []}  # each exchange of the pair's
    stages: dict[str, list[float]] = {stage: [] for stage in wrapped}
    statuses: dict[str, int] = {}

    def clock(func: Callable[[], Any], kind: str) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        value = func()
        samples[f"{kind}_cpu"].append(time.process_time() - start_cpu)
        samples[kind].append(time.perf_counter() - start)
        return value

    for i in range(invocations):
        # Remaining time varies, as it does in Lambda, so a per-request timeout budget derived
        # from it shows in the connection counts if it rebuilds clients or pools.
        event, context = json.loads(raw), Context(remaining_ms=(9_000, 6_000, 3_000)[i % 3])
        spent.clear()
        if i % 2:
            clock(alone.exchange, "alone")
        response = clock(partial(module.lambda_handler, event, context), "total")
        if not i % 2:
            clock(alone.exchange, "alone")
        for stage in wrapped:
            stages[stage].append(spent.get(stage, 0.0))
        for upstream, seconds in alone.spent.items():
            samples[f"alone_{upstream}"].append(seconds)
        status = str(response["statusCode"])
        statuses[status] = statuses.get(status, 0) + 1
    result = {"first_status": first["statusCode"], **samples}
    result |= {"stages": stages, "statuses": statuses, "alone_opened": alone.opened}
    out.write_text(json.dumps(result))


def phase(name: str, app: str, requests: int) -> None:
    """Run the app up to phase `name` (bare, libraries, imports, ready, first, memory, wire), for
    bench/instructions.py to count; `modules` prints what importing ours loads, its own modules
    left out; `alone` makes the two upstream exchanges of 1 + `requests` requests alone."""
    import importlib

    if name == "bare":
        return
    if name == "alone":
        alone = UpstreamsAlone()
        for _ in range(1 + requests):
            alone.exchange()
        return
    if name in ("libraries", "imports", "modules"):  # where load() imports from, for the others
        put_package_first()
    if name == "libraries":  # the modules "imports" loads, billing_portal's own left out
        for module_name in os.environ["BENCH_MODULES"].split(","):
            importlib.import_module(module_name)
        return
    if name in ("imports", "modules"):  # ours: everything app.py imports, nothing built
        importlib.import_module("billing_portal.factory")
        if name == "modules":
            print(",".join(m for m in sys.modules if not m.startswith("billing_portal")))
        return
    module = load(app)
    if name == "ready":
        return
    for module_name, path, answer in IN_MEMORY[app] if name == "memory" else []:
        if not patch(module_name, path, _answering(answer)):
            raise SystemExit(f"{module_name}.{path} is gone: update IN_MEMORY in {__file__}")
    event = EVENT.read_text()
    for _ in range(1 + (requests if name in ("memory", "wire") else 0)):
        response = module.lambda_handler(json.loads(event), Context())
        if response["statusCode"] != 303:
            raise SystemExit(f"{app} answered {response['statusCode']}")


if __name__ == "__main__":
    kind, app, value, *out = sys.argv[1:]
    if kind == "cold":
        cold(app, float(value), Path(out[0]))
    elif kind == "warm":
        warm(app, int(value), Path(out[0]))
    else:
        phase(kind, app, int(value))
        # Lambda freezes the process after the response and never tears the interpreter down:
        # end here, so no phase counts the teardown (the naive shape's is ~4x ours, which
        # freezes its objects with gc.freeze()).
        sys.stdout.flush()
        os._exit(0)


def _answering(answer: str) -> Callable[[Any], Callable[..., Any]]:
    """A replacement for a method: whatever it is called with, the canned answer."""
    return lambda _: lambda *a, **k: ANSWERS[answer]
