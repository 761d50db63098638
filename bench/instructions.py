"""Benchmark: CPU instructions to a cold start's first response, and per warm request.

    python3 -m uv run python -m bench.instructions          # ~9 minutes; needs valgrind
    python3 -m uv run python -m bench.instructions --only first --package /tmp/variant

Wall times on a shared machine move by 10-30% from run to run, enough to flip the sign of a
5% difference. Instructions executed (valgrind's cachegrind, --cache-sim=no) are the same on
every run (to within 0.1%), so they show what a change saves, and where a cold start's work is:

- Cold start, by phase, of the deployment package on Python 3.13 (bench/perf.py builds it),
  against the same stand-ins and environment as bench/perf.py: the interpreter; the libraries
  alone (every module that importing ours loads, ours left out); ours imported, nothing built;
  ready (imported and built); the first response. The naive shape (bench/naive_app.py) on the
  same package: ready and first response.
- Warm, per request: instructions of 200 more requests in one process, divided by 200, with
  the upstream calls answered in memory (wrapped from outside, as bench/perf.py times stages):
  the handler's own work, without waiting on DynamoDB or Stripe. Next to it, that work's wall
  time without valgrind: back to back, and with a 12 ms sleep in place of the upstream calls,
  as when waiting on them (time in the calls is left out of both).

- `--only first --package DIR`: only ours' instructions to the first response, for another
  package: a copy of handler/Makefile's with one change reverted shows what that change saves.

Instructions are not time: memory stalls and the CPU waking after an I/O wait add to wall time
(see docs/performance.md). They count what the code asks the CPU to do. Prints, asserts nothing.

This file is also the child process (--child ...), so its top level imports only the stdlib.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_REQUESTS = 200
WALL_REQUESTS = 2000
# About DynamoDB and Stripe together: long enough for the CPU to idle between requests.
WAIT_MS = 12
# Where each app makes its upstream calls, answered in memory for the warm figure.
IN_MEMORY = {
    "ours": [("billing_portal.portal", "Portal.session_url", "url")],
    "naive": [
        ("naive_app", "find_customer", "item"),
        ("naive_app", "create_session", "url"),
    ],
}
ANSWERS: dict[str, Any] = {
    "url": "https://billing.stripe.com/p/session/test_in_memory",
    "item": {"user_id": "demo-user", "stripe_customer_id": "cus_InMemory"},
    "return": "https://app.example.com/account",
}


# --- child (the runtime: stdlib + the package) ----------------------------------------------


def child(phase: str, app: str, requests: int) -> None:
    """Run the app up to `phase` (bare, libraries, imports, ready, first, warm, wire) and exit;
    `modules` prints what importing ours loads, its own modules left out; `alone` makes the
    upstream calls of `requests` requests with nothing but the stdlib."""
    if phase == "bare":
        return
    if phase == "alone":
        upstreams_alone(requests)
        return
    import importlib

    # Run as a script, so bench/ is first on the path: perf is importable as it is.
    from perf import Context, _load, put_package_first

    if phase in ("libraries", "imports", "modules"):  # where _load imports from, for the others
        put_package_first()
    if phase == "libraries":  # the modules "imports" loads, billing_portal's own left out
        for name in os.environ["BENCH_MODULES"].split(","):
            importlib.import_module(name)
        return
    if phase in ("imports", "modules"):  # ours: everything app.py imports, nothing built
        importlib.import_module("billing_portal.factory")
        if phase == "modules":
            print(",".join(m for m in sys.modules if not m.startswith("billing_portal")))
        return
    module = _load(app)
    if phase == "ready":
        return
    if phase == "warm":
        answer_in_memory(app)
    event = (ROOT / "events" / "home.json").read_text()
    for _ in range(1 + (requests if phase in ("warm", "wire") else 0)):
        response = module.lambda_handler(json.loads(event), Context())
        if response["statusCode"] != 303:
            raise SystemExit(f"{app} answered {response['statusCode']}")


def upstreams_alone(requests: int) -> None:
    """A warm request's two upstream calls and nothing else: DynamoDB's GetItem and Stripe's
    session create, each on a kept-alive connection, built and read with http.client. What is
    left of a request's instructions after these is the function's own work."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    dynamodb, stripe = (
        urlsplit(os.environ[name]) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "STRIPE_API_BASE")
    )
    to_dynamodb = http.client.HTTPConnection(dynamodb.hostname, dynamodb.port)
    to_stripe = http.client.HTTPConnection(stripe.hostname, stripe.port)
    key = {"user_id": {"S": "demo-user"}}
    get_item = json.dumps({"TableName": os.environ["CUSTOMERS_TABLE"], "Key": key})
    for _ in range(1 + requests):
        to_dynamodb.request(
            "POST",
            "/",
            get_item,
            {
                "X-Amz-Target": "DynamoDB_20120810.GetItem",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/"
                "dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        item = json.loads(to_dynamodb.getresponse().read())["Item"]
        form = {"customer": item["stripe_customer_id"]["S"], "return_url": ANSWERS["return"]}
        to_stripe.request(
            "POST",
            "/v1/billing_portal/sessions",
            urlencode(form),
            {
                "Authorization": "Bearer sk_test_fake",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        json.loads(to_stripe.getresponse().read())


def answer_in_memory(app: str, wait_s: float = 0.0) -> list[float]:
    """Replace the app's upstream calls with in-memory answers, given after `wait_s` (a stand-in
    for the wait on DynamoDB or Stripe); the list returned collects the time spent in them."""
    inside: list[float] = []
    for module_name, path, answer in IN_MEMORY[app]:
        owner: Any = sys.modules[module_name]
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)

        def answered(*args: Any, answer: str = answer, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if wait_s:
                time.sleep(wait_s)
            inside.append(time.perf_counter() - start)
            return ANSWERS[answer]

        setattr(owner, name, answered)
    return inside


def child_wall(app: str, requests: int, wait_ms: float) -> None:
    """Warm requests' own wall time (ms, p50 and p95): each request's time less the time spent
    in its upstream calls, which are answered in memory after wait_ms."""
    from perf import Context, _load  # a script: bench/ is first on the path

    module = _load(app)
    inside = answer_in_memory(app, wait_ms / 1000)
    event = (ROOT / "events" / "home.json").read_text()
    own: list[float] = []
    for _ in range(1 + requests):
        body = json.loads(event)
        inside.clear()
        start = time.perf_counter()
        module.lambda_handler(body, Context())
        own.append(time.perf_counter() - start - sum(inside))
    ordered = sorted(own[1:])
    p50, p95 = (ordered[int(q * (len(ordered) - 1))] * 1000 for q in (0.5, 0.95))
    print(json.dumps({"p50": p50, "p95": p95}))


# --- parent -----------------------------------------------------------------------------------


class Runner:
    """Runs this file's child in the 3.13 runtime, against the stand-ins: under cachegrind for
    its instruction count, or plainly for what it prints."""

    def __init__(self, valgrind: str, python: Path, env: dict[str, str]) -> None:
        self.valgrind, self.env = valgrind, env
        self.command = [str(python), __file__]

    def instructions(self, *args: str) -> int:
        import tempfile

        from bench.perf import run

        with tempfile.NamedTemporaryFile(suffix=".cachegrind") as out:
            cachegrind = [
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out.name}",
            ]
            command = [self.valgrind, *cachegrind, *self.command, "--child", *args]
            run(command, cwd=ROOT, env=self.env, capture_output=True)
            # The "summary:" line holds the instruction count (Ir) of the whole process.
            lines = Path(out.name).read_text().splitlines()
            return int(next(line for line in lines if line.startswith("summary:")).split()[1])

    def last_line(self, *args: str) -> str:
        from bench.perf import run

        output = run([*self.command, *args], cwd=ROOT, env=self.env, capture_output=True).stdout
        return output.splitlines()[-1]


def cold(runner: Runner) -> None:
    from bench.perf import table

    print(
        "\n== Cold start, instructions (millions), Python 3.13, Stripe key from SSM (moto); each "
        "phase includes the ones above it"
    )
    runner.env["BENCH_MODULES"] = runner.last_line("--child", "modules", "ours", "0")
    phases = [("bare", "interpreter and this script"), ("libraries", "the libraries imported")]
    phases += [("imports", "and our modules: imported, nothing built")]
    phases += [("ready", "ready (imported and built)"), ("first", "first response")]
    counts: dict[tuple[str, str], int] = {}
    rows = []
    for phase, label in phases:
        for app in ("ours", "naive"):
            if phase in ("libraries", "imports") and app == "naive":
                continue  # the naive shape builds as it imports
            if phase == "bare" and app == "naive":
                counts[phase, app] = counts[phase, "ours"]
                continue
            counts[phase, app] = runner.instructions(phase, app, "0")
        naive = counts.get((phase, "naive"))
        rows.append(
            [
                label,
                f"{counts[phase, 'ours'] / 1e6:.0f}",
                f"{naive / 1e6:.0f}" if naive else "",
                f"{counts[phase, 'ours'] / naive:.2f}" if naive else "",
            ]
        )
    print(table(["phase", "ours", "naive", "ours/naive"], rows))
    ours = {phase: counts[phase, "ours"] for phase, _ in phases}
    total = ours["first"]
    print("   where ours spends them (share of the first response's instructions):")
    steps = [
        ("interpreter", ours["bare"]),
        ("the libraries' imports", ours["libraries"] - ours["bare"]),
        ("our modules (pydantic models built)", ours["imports"] - ours["libraries"]),
        ("build (settings, botocore session, DynamoDB client)", ours["ready"] - ours["imports"]),
        ("first request (key from SSM, Stripe client, two calls)", total - ours["ready"]),
    ]
    for name, count in steps:
        print(f"   - {name}: {count / 1e6:.0f} M ({count / total:.0%})")


def warm(runner: Runner) -> None:
    from bench.perf import table

    print(
        f"\n== Warm request, upstream calls answered in memory: instructions per request "
        f"(mean of {WARM_REQUESTS}), and its own wall time (p50 / p95 of {WALL_REQUESTS}, "
        f"no valgrind) back to back and with a {WAIT_MS} ms wait in place of the calls"
    )
    rows = []
    for app in ("ours", "naive"):
        more = runner.instructions("warm", app, str(WARM_REQUESTS))
        per_request = (more - runner.instructions("warm", app, "0")) / WARM_REQUESTS
        walls = []
        for wait_ms in (0, WAIT_MS):
            wall = json.loads(runner.last_line("--wall", app, str(WALL_REQUESTS), str(wait_ms)))
            walls.append(f"{wall['p50']:.2f} / {wall['p95']:.2f} ms")
        rows.append([app, f"{per_request / 1e3:.0f} k", *walls])
    print(table(["app", "instructions", "back to back", f"after {WAIT_MS} ms"], rows))
    wire(runner)


def wire(runner: Runner) -> None:
    """Warm requests against the stand-ins over loopback, and the same two calls alone."""
    from bench.perf import table

    def per_request(phase: str, app: str) -> float:
        more = runner.instructions(phase, app, str(WARM_REQUESTS))
        return (more - runner.instructions(phase, app, "0")) / WARM_REQUESTS

    alone = per_request("alone", "ours")
    print(
        f"\n== Warm request, real calls to the stand-ins over loopback (mean of {WARM_REQUESTS}), "
        f"less the same two calls made alone with http.client ({alone / 1e3:.0f} k)"
    )
    rows = []
    for app in ("ours", "naive"):
        whole = per_request("wire", app)
        rows.append([app, f"{whole / 1e3:.0f} k", f"{(whole - alone) / 1e3:.0f} k"])
    print(table(["app", "instructions", "own (less the calls alone)"], rows))


def main(argv: list[str]) -> None:
    import argparse
    import shutil
    import tempfile

    from bench import perf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("all", "cold", "warm", "wire", "first"),
        default="all",
        help="first = only ours' instructions to the first response (one run, ~20 s)",
    )
    parser.add_argument(
        "--package",
        type=Path,
        help="a deployment package to measure instead of handler/Makefile's (say, a copy of it "
        "with one change reverted, to see what the change saves)",
    )
    args = parser.parse_args(argv)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return
    python313 = perf.pyenv_python("3.13")
    if python313 is None:
        return
    cache = Path(os.environ.get("BENCH_CACHE", tempfile.gettempdir())) / "billing-portal-bench"
    cache.mkdir(parents=True, exist_ok=True)
    runtime = next(r for r in perf.find_runtimes(["3.13"], cache, python313) if r.label == "3.13")
    if args.package:
        runtime = runtime._replace(package=args.package.resolve())
    print(f"package: {runtime.package}")
    upstreams = perf.start_upstreams()
    assert upstreams.stdin is not None and upstreams.stdout is not None
    env = {
        **perf.child_environment(json.loads(upstreams.stdout.readline()), "ssm"),
        **perf.package_env(runtime),
        "PYTHONHASHSEED": "0",  # the same dict and set layouts on every run
    }
    runner = Runner(valgrind, runtime.python, env)
    try:
        if args.only == "first":
            print(f"first response, ours: {runner.instructions('first', 'ours', '0') / 1e6:.0f} M")
        if args.only in ("all", "cold"):
            cold(runner)
        if args.only in ("all", "warm"):
            warm(runner)
        if args.only == "wire":
            wire(runner)
    finally:
        upstreams.stdin.close()
        upstreams.wait(timeout=10)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        # Lambda freezes the process after the response and never tears the interpreter down:
        # end here, so no phase counts the teardown (the naive shape's is ~4x ours, which
        # freezes its objects with gc.freeze()).
        sys.stdout.flush()
        os._exit(0)
    elif sys.argv[1:2] == ["--wall"]:
        child_wall(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        main(sys.argv[1:])
