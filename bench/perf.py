"""Benchmark: cold start, warm path, connections and package size, ours vs the naive shape.

    python3 -m uv run python -m bench.perf                        # everything, ~3 min
    python3 -m uv run python -m bench.perf --cold-runs 40 --warm 5000 --only cold,warm

Prints tables and naive/ours ratios; asserts nothing. Take medians, and expect noise on a busy
machine (it prints the load; CPU times suffer less from it than wall times). How it measures:

- On 3.13 (what template.yaml deploys) the handler runs from deployment packages, built for this
  machine's platform: ours is what `sam build` ships (handler/Makefile: the locked pins, .pyc),
  "default pip" what `sam build`'s default pip workflow would ship (dependencies resolved, so
  botocore too; no .pyc). Python gets them on its path ahead of a virtualenv holding only boto3,
  as Lambda puts /var/task ahead of its runtime's boto3. On 3.11 and 3.12 it runs in virtualenvs
  holding the locked runtime dependencies plus boto3, bytecode-compiled. All are built once
  under $BENCH_CACHE (default /tmp), from pyenv's Pythons (the packages need make and PyPI).
  Children get Lambda's environment.
- DynamoDB is moto's server and Stripe is testing/fake_stripe.py, both in a separate process over
  loopback, so their work does not share a GIL with the handler. A keep-alive proxy in front of
  moto counts the connections the handler opens; the stand-in counts its own.
- Cold start: fresh interpreters, median of --cold-runs, time from spawn to a ready handler
  (imports, settings, clients) and to its first response; `-X importtime` per package.
- Warm path: --warm invocations of the real lambda_handler in one process after a first call;
  stages timed by wrapping module functions from outside (the handler code is unchanged).
- Size: the same two packages for manylinux2014_aarch64 (what the template deploys), unzipped
  and zipped with deflate.

This file is also the child process (--child ...), so its top level imports only the stdlib.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import subprocess

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "handler"  # the directory holding the package: what goes on sys.path
PACKAGE = HANDLER / "billing_portal"  # the code that ships
BENCH = ROOT / "bench"
EVENT = ROOT / "events" / "home.json"
# The module each child imports: ours is template.yaml's Handler's module.
APPS = {"ours": "billing_portal.app", "naive": "naive_app"}
# Where the deployed function reads the Stripe key (template.yaml's StripeApiKeyParam default).
KEY_PARAM = "/billing-portal/stripe-api-key"
# What Lambda sets, so libraries take their Lambda paths: the X-Ray SDK samples locally instead of
# building a botocore client at import, and Tracer is on (template.yaml: Tracing: Active) with
# this request not sampled, as most are.
# What the Lambda runtime sets in the function's environment (python3.13), as far as a library
# could read it; the child gets these and the template's variables, not this shell's.
LAMBDA_ENVIRONMENT = {
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "LAMBDA_TASK_ROOT": str(HANDLER),
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "_HANDLER": "billing_portal.app.lambda_handler",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "billing-portal",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_FUNCTION_VERSION": "1",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/billing-portal",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/03/[1]0123456789abcdef0123456789abcdef",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_LAMBDA_LOG_LEVEL": "INFO",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=0",
}
# Stage -> where the benchmark wraps it: (module, attribute path). Missing ones are skipped.
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


# --- child processes (runtime virtualenv: stdlib + the handler's dependencies only) --------


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
    sys.path[:0] = [os.environ.get("BENCH_PACKAGE") or str(HANDLER), str(BENCH)]


def _load(app: str) -> Any:
    """The app's module, from where put_package_first() points."""
    import importlib

    put_package_first()
    return importlib.import_module(APPS[app])


def child_cold(app: str, t0: float, out: Path) -> None:
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
        module = _load(app)
        mark("ready")
        response = module.lambda_handler(json.loads(EVENT.read_text()), Context())
        mark("first")
        result["status"] = response["statusCode"]
    out.write_text(json.dumps(result))


def child_warm(app: str, invocations: int, out: Path) -> None:
    module = _load(app)
    raw = EVENT.read_text()
    spent: dict[str, float] = {}

    def timed(stage: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start

        return wrapper

    wrapped = []
    for stage, module_name, path in STAGES[app]:
        owner: Any = sys.modules.get(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, timed(stage, getattr(owner, name)))
            wrapped.append(stage)

    first = module.lambda_handler(json.loads(raw), Context())
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in wrapped}
    statuses: dict[str, int] = {}
    for i in range(invocations):
        # Remaining time varies, as it does in Lambda, so a per-request timeout budget derived
        # from it shows in the connection counts if it rebuilds clients or pools.
        event, context = json.loads(raw), Context(remaining_ms=(9_000, 6_000, 3_000)[i % 3])
        spent.clear()
        start = time.perf_counter()
        response = module.lambda_handler(event, context)
        totals.append(time.perf_counter() - start)
        for stage in wrapped:
            stages[stage].append(spent.get(stage, 0.0))
        status = str(response["statusCode"])
        statuses[status] = statuses.get(status, 0) + 1
    out.write_text(
        json.dumps(
            {
                "first_status": first["statusCode"],
                "total": totals,
                "stages": stages,
                "statuses": statuses,
            }
        )
    )


# --- upstreams process (project venv: moto server, Stripe stand-in, keep-alive proxy) -------


def serve() -> None:
    """Start DynamoDB and Stripe stand-ins; print their URLs; answer 'counts' lines on stdin."""
    import http.client
    import logging
    import threading
    from functools import partial
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3
    from moto.server import ThreadedMotoServer

    from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
    from testing.harness import DEMO_TABLE, DEMO_USER, create_table, put_customer

    class KeepAliveProxy(BaseHTTPRequestHandler):
        """HTTP/1.1 keep-alive in front of moto's server, counting the connections it accepts.

        Moto's server (werkzeug) answers every request with "Connection: close", which would
        make any client open one connection per request; this proxy keeps the client's
        connection open as DynamoDB does, and forwards each request on its own connection.
        """

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to each kept-alive request
        accepted = 0

        def setup(self) -> None:
            type(self).accepted += 1
            super().setup()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPConnection(host, port, timeout=30)
            upstream.request(self.command, self.path, body, dict(self.headers.items()))
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            self.send_response(answer.status)
            hop_by_hop = {"connection", "content-length", "transfer-encoding", "date", "server"}
            for name, value in answer.getheaders():
                if name.lower() not in hop_by_hop:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_client = partial(
        boto3.client,
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    dynamodb = moto_client("dynamodb")
    create_table(dynamodb, DEMO_TABLE)
    moto_client("ssm").put_parameter(Name=KEY_PARAM, Value=DEFAULT_API_KEY, Type="SecureString")
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveProxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    with FakeStripe() as fake:
        put_customer(dynamodb, DEMO_USER, fake.add_customer(email="demo@example.com"), DEMO_TABLE)
        urls = {"dynamodb": proxy_url, "ssm": f"http://{host}:{port}", "stripe": fake.url}
        print(json.dumps(urls), flush=True)
        for line in sys.stdin:
            if line.strip() == "counts":
                counts = {"dynamodb": KeepAliveProxy.accepted, "stripe": fake.connections}
                print(json.dumps(counts), flush=True)
    proxy.shutdown()
    moto.stop()


# --- the parent: build runtimes, run children, print tables ---------------------------------


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run one of the benchmark's own commands (never user input); fail loudly."""
    import subprocess

    return subprocess.run(command, check=True, text=True, **kwargs)  # noqa: S603


def main(argv: list[str]) -> None:
    import argparse
    import platform
    import shlex
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=12, help="fresh processes per app")
    parser.add_argument("--warm", type=int, default=2000, help="warm invocations, ours")
    parser.add_argument(
        "--warm-naive", type=int, default=500, help="warm invocations, naive (slower per call)"
    )
    parser.add_argument(
        "--warm-python", default="3.13", help="Python for warm path and connections (or 'all')"
    )
    parser.add_argument("--pythons", default="3.11,3.12,3.13", help="versions to find under pyenv")
    parser.add_argument(
        "--only", default="cold,imports,warm,size", help="sections to run, comma-separated"
    )
    parser.add_argument(
        "--key",
        choices=("ssm", "env"),
        default="ssm",
        help="where both apps read the Stripe key: ssm = the SecureString a deployment reads "
        "(moto answering, on the first request for ours, at import for the naive shape); "
        "env = STRIPE_API_KEY, as local runs do",
    )
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    print("command:", shlex.join(sys.orig_argv), f"(in {Path.cwd()})")
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (numbers are noisy when load is high)"
    )

    cache = Path(os.environ.get("BENCH_CACHE", tempfile.gettempdir())) / "billing-portal-bench"
    cache.mkdir(parents=True, exist_ok=True)
    python313 = pyenv_python("3.13") if "3.13" in args.pythons.split(",") else None
    runtimes = find_runtimes(args.pythons.split(","), cache, python313)
    compiled = [runtime for runtime in runtimes if not runtime.label.endswith(NO_PYC)]
    ratios: list[tuple[str, float, float, str]] = []

    upstreams = start_upstreams()
    assert upstreams.stdin is not None and upstreams.stdout is not None
    urls = json.loads(upstreams.stdout.readline())
    env = child_environment(urls, args.key)
    print(
        f"Stripe key: {'SSM SecureString ' + KEY_PARAM if args.key == 'ssm' else 'STRIPE_API_KEY'}"
    )

    def counts() -> dict[str, int]:
        assert upstreams.stdin is not None and upstreams.stdout is not None
        upstreams.stdin.write("counts\n")
        upstreams.stdin.flush()
        return dict(json.loads(upstreams.stdout.readline()))

    def child(runtime: Runtime, *child_args: str) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            run(
                [str(runtime.python), __file__, "--child", *child_args, "--out", out.name],
                cwd=ROOT,
                env={**env, **package_env(runtime)},
                stdout=subprocess.DEVNULL,
            )
            return dict(json.loads(Path(out.name).read_text()))

    try:
        if "cold" in sections:
            cold_start(runtimes, args.cold_runs, child, ratios)
        if "imports" in sections and compiled:
            import_profile(compiled[-1], env)
        if "warm" in sections:
            chosen = [r for r in compiled if args.warm_python in ("all", r.label)] or compiled[-1:]
            for runtime in chosen:
                warm_path(runtime, (args.warm, args.warm_naive), child, counts, ratios)
    finally:
        upstreams.stdin.close()
        upstreams.wait(timeout=10)
    if "size" in sections and python313:
        package_size(cache, python313, ratios)

    print("\n== Summary: naive / ours (higher means ours is better)")
    print(
        table(
            ["figure", "ours", "naive", "naive/ours"],
            [
                [name, f"{ours:.1f} {unit}", f"{naive:.1f} {unit}", f"{naive / ours:.2f}x"]
                for name, ours, naive, unit in ratios
            ],
        )
    )


def start_upstreams() -> subprocess.Popen[str]:
    """The stand-ins' process (serve()); its first line holds their URLs as JSON."""
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "bench.perf", "--serve"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def child_environment(urls: dict[str, str], key: str) -> dict[str, str]:
    """A child's whole environment, as in Lambda and nothing of this shell's: the function's
    variables as template.yaml sets them (default parameters), the demo settings over them (no
    EC2 metadata lookups), Lambda's own variables, the stand-ins' URLs, and the Stripe key from
    SSM (key="ssm", as deployed) or from STRIPE_API_KEY (key="env")."""
    # The parent's venv only: children lack yaml and samtranslator.
    from testing.cfn import Stack
    from testing.harness import DEMO_SETTINGS

    env = {
        **{name: str(value) for name, value in Stack().environment().items()},
        **DEMO_SETTINGS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /var/task is read-only
        **LAMBDA_ENVIRONMENT,
        "STRIPE_API_BASE": urls["stripe"],
        "AWS_ENDPOINT_URL_DYNAMODB": urls["dynamodb"],
    }
    if key == "ssm":
        del env["STRIPE_API_KEY"]
        env |= {"STRIPE_API_KEY_PARAM": KEY_PARAM, "AWS_ENDPOINT_URL_SSM": urls["ssm"]}
    return env


def uv_command() -> list[str]:
    # `uv run` tells its children where its binary is; else the pip-installed module.
    return [os.environ["UV"]] if os.environ.get("UV") else ["python3", "-m", "uv"]


def uv_env() -> dict[str, str]:
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}  # use pyenv's Pythons, fetch none


NO_PYC = " default pip, no .pyc"


class Runtime(NamedTuple):
    label: str
    python: Path
    package: Path | None = None  # a deployment package, ahead of python's site-packages


def package_env(runtime: Runtime) -> dict[str, str]:
    if runtime.package is None:
        return {}
    return {"BENCH_PACKAGE": str(runtime.package), "LAMBDA_TASK_ROOT": str(runtime.package)}


def pyenv_python(version: str) -> str | None:
    import glob

    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(glob.glob(str(pyenv / f"{version}.*" / "bin" / f"python{version}")))
    if not candidates:
        print(f"Python {version}: not found under {pyenv}; skipped")
    return candidates[-1] if candidates else None


def venv(cache: Path, name: str, python: str, requirements: str) -> Path:
    """A virtualenv of python with requirements (pip lines), bytecode-compiled; built once."""
    import hashlib

    uv, env = uv_command(), uv_env()
    venv = cache / f"runtime-{name}"
    stamp = hashlib.sha256(f"{python}\n{requirements}".encode()).hexdigest()
    if not (venv / "stamp").exists() or (venv / "stamp").read_text() != stamp:
        started = time.perf_counter()
        run([*uv, "venv", "-q", "--clear", "--python", python, str(venv)], env=env)
        reqs = cache / f"{name}-requirements.txt"
        reqs.write_text(requirements)
        install = [
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
        ]
        run([*uv, *install, "-r", str(reqs)], env=env)
        (venv / "stamp").write_text(stamp)
        print(f"{name}: built {venv} in {time.perf_counter() - started:.0f} s")
    return venv / "bin" / "python"


def find_runtimes(versions: list[str], cache: Path, python313: str | None) -> list[Runtime]:
    """3.11 and 3.12 (as found): virtualenvs with the locked runtime dependencies. 3.13: the
    packages `sam build` ships, ours (handler/Makefile) and the default pip workflow's."""
    import platform

    requirements = run(
        [*uv_command(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        env=uv_env(),
    ).stdout
    found = []
    for version in versions:
        python = python313 if version == "3.13" else pyenv_python(version)
        if python is None:
            continue
        if version != "3.13":
            found.append(Runtime(version, venv(cache, version, python, requirements)))
            continue
        lambda_python = venv(cache, "3.13-boto3", python, f"boto3=={locked_version('boto3')}\n")
        for kind, label in (("ours", version), ("naive", version + NO_PYC)):
            package = build_package(kind, platform.machine(), python, cache)
            found.append(Runtime(label, lambda_python, package))
    return found


def build_package(kind: str, machine: str, python313: str, cache: Path) -> Path:
    """What `sam build` ships for manylinux2014_<machine>: "ours" by running handler/Makefile,
    "naive" as its default pip workflow does (pip resolves dependencies, compiles nothing; uv's
    pip here: the same resolution, faster and cached). Built once per input."""
    import hashlib
    import shutil
    import subprocess

    target = cache / f"package-{kind}-{machine}"
    # Every file of the package (handler/Makefile ships the whole directory), bytecode aside.
    sources = sorted(f for f in PACKAGE.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    inputs = [HANDLER / "requirements.txt", HANDLER / "Makefile", *sources]
    digest = hashlib.sha256(python313.encode())
    for path in inputs:
        digest.update(str(path.relative_to(HANDLER)).encode())
        digest.update(path.read_bytes())
    stamp = cache / f"package-{kind}-{machine}.stamp"
    if stamp.exists() and stamp.read_text() == digest.hexdigest() and target.is_dir():
        return target
    started = time.perf_counter()
    shutil.rmtree(target, ignore_errors=True)
    if kind == "ours":
        command = ["make", "-C", str(HANDLER), "build-BillingPortalFunction"]
        command += [f"ARTIFACTS_DIR={target}", f"PLATFORM=manylinux2014_{machine}"]
        command += [f"PYTHON={python313}"]
    else:
        command = [*uv_command(), "pip", "install", "-q", "--target", str(target)]
        command += ["--python-platform", f"{machine}-manylinux2014", "--python-version", "3.13"]
        command += ["--only-binary", ":all:", "-r", str(HANDLER / "requirements.txt")]
    try:
        run(command, cwd=ROOT, env=uv_env(), capture_output=True)
    except subprocess.CalledProcessError as error:
        print(error.stdout, error.stderr, sep="\n", file=sys.stderr)
        raise
    if kind == "naive":
        # The package's sources as they are, no .pyc (naive_app itself is imported from bench/).
        shutil.copytree(
            PACKAGE, target / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    stamp.write_text(digest.hexdigest())
    print(f"package {kind} ({machine}): built {target} in {time.perf_counter() - started:.0f} s")
    return target


def cold_start(runtimes: list[Runtime], runs: int, child: Any, ratios: list) -> None:
    import statistics

    print(
        f"\n== Cold start (median of {runs} fresh processes, ms): spawn -> ready handler "
        "(imports, settings, clients) -> first response; wall time, and CPU time (less "
        "sensitive to other load)"
    )
    figures = {
        "ready": "ready",
        "ready_cpu": "ready CPU",
        "first": "first response",
        "first_cpu": "first response CPU",
    }
    rows = []
    medians = {}
    for runtime in runtimes:
        version = runtime.label
        results: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": [], "naive": []}
        for _ in range(max(5, runs // 4) if version.endswith(NO_PYC) else runs):
            for app in results:  # interleaved, so drifting load hits all three alike
                results[app].append(child(runtime, "cold", app, str(time.perf_counter())))
        median = medians[version] = {
            app: {key: statistics.median(r[key] for r in rs) * 1000 for key in figures}
            for app, rs in results.items()
        }
        for app in ("ours", "naive"):
            statuses = {r["status"] for r in results[app]}
            if statuses != {303}:
                print(f"   warning: {app} on {version} answered {statuses}, not 303")
        rows.append([version, "bare interpreter", *(f"{median['bare'][k]:.0f}" for k in figures)])
        for app in ("ours", "naive"):
            rows.append([version, app, *(f"{median[app][k]:.0f}" for k in figures)])
        rows.append(
            [
                version,
                "naive/ours",
                *(f"{median['naive'][k] / median['ours'][k]:.2f}x" for k in figures),
            ]
        )
        for key, label in figures.items():
            ratios.append(
                (f"cold start {label}, {version}", median["ours"][key], median["naive"][key], "ms")
            )
    print(table(["python", "app", *figures.values()], rows))
    for version in [v for v in medians if v + NO_PYC in medians]:
        # Code and build together: ours as handler/Makefile ships it, the naive shape as the
        # default pip workflow would (it unzips wheels and compiles nothing).
        for key in ("first", "first_cpu"):
            ratios.append(
                (
                    f"cold start {figures[key]}, {version}: ours as built, naive by default pip",
                    medians[version]["ours"][key],
                    medians[version + NO_PYC]["naive"][key],
                    "ms",
                )
            )
    print(
        f"   3.13: ours = the package handler/Makefile builds; {NO_PYC.strip()} = the package"
        " of sam build's default pip workflow, every module compiled at import (median of "
        f"{max(5, runs // 4)} runs)"
    )


def import_profile(runtime: Runtime, env: dict[str, str]) -> None:
    """Which top-level packages' imports dominate init (python -X importtime, self times)."""
    import statistics

    version, python = runtime.label, runtime.python
    print(
        f"\n== What init imports cost (python -X importtime, Python {version}, median of 3, ms;"
        " self time summed per top-level package)"
    )
    per_app = {}
    for app in ("ours", "naive"):
        samples: list[dict[str, float]] = []
        for _ in range(3):
            first = str(runtime.package or HANDLER)
            code = f"import sys; sys.path[:0] = {[first, str(BENCH)]}; import {APPS[app]}"
            stderr = run(
                [str(python), "-X", "importtime", "-c", code],
                cwd=ROOT,
                env={**env, **package_env(runtime)},
                capture_output=True,
            ).stderr
            sums: dict[str, float] = {}
            for line in stderr.splitlines():
                parts = line.removeprefix("import time:").split("|")
                if len(parts) != 3 or not parts[0].strip().isdigit():
                    continue
                package = parts[2].strip().split(".")[0]
                sums[package] = sums.get(package, 0.0) + int(parts[0]) / 1000
            samples.append(sums)
        names = set().union(*samples)
        per_app[app] = {n: statistics.median(s.get(n, 0.0) for s in samples) for n in names}
    top = sorted(per_app["ours"].items(), key=lambda item: -item[1])[:12]
    naive_top = sorted(per_app["naive"].items(), key=lambda item: -item[1])[:12]
    rows = [
        [name, f"{ms:.0f}", naive_name, f"{naive_ms:.0f}"]
        for (name, ms), (naive_name, naive_ms) in zip(top, naive_top, strict=False)
    ]
    rows.append(
        [
            "(all)",
            f"{sum(per_app['ours'].values()):.0f}",
            "(all)",
            f"{sum(per_app['naive'].values()):.0f}",
        ]
    )
    print(table(["ours: package", "ms", "naive: package", "ms"], rows))


def warm_path(
    runtime: Runtime, runs: tuple[int, int], child: Any, counts: Any, ratios: list
) -> None:
    version = runtime.label
    invocations = dict(zip(("ours", "naive"), runs, strict=True))
    print(
        f"\n== Warm path, Python {version}: {runs[0]} (ours) and {runs[1]} (naive) invocations "
        "after a first one, real lambda_handler, moto server + Stripe stand-in over loopback "
        "(ms)"
    )
    results = {}
    connections = {}
    for app in ("ours", "naive"):
        before = counts()
        results[app] = child(runtime, "warm", app, str(invocations[app]))
        after = counts()
        connections[app] = {name: after[name] - before[name] for name in after}
        if results[app]["statuses"] != {"303": invocations[app]}:
            print(f"   warning: {app} answered {results[app]['statuses']}")
    rows = []
    names = ["total", *[stage for stage, *_ in STAGES["ours"]], "other"]
    for name in names:
        row = [name]
        for app in ("ours", "naive"):
            data = results[app]
            values = data["total"] if name == "total" else data["stages"].get(name)
            if name == "other":
                values = [
                    total - sum(stage[i] for stage in data["stages"].values())
                    for i, total in enumerate(data["total"])
                ]
            row += (
                [f"{percentile(values, 50):.2f}", f"{percentile(values, 95):.2f}"]
                if values
                else ["n/a", "n/a"]
            )
        rows.append(row)
    ours, naive = results["ours"]["total"], results["naive"]["total"]
    rows.append(
        [
            "naive/ours (total)",
            "",
            "",
            f"{percentile(naive, 50) / percentile(ours, 50):.2f}x",
            f"{percentile(naive, 95) / percentile(ours, 95):.2f}x",
        ]
    )
    print(table(["stage", "ours p50", "ours p95", "naive p50", "naive p95"], rows))
    print("   other = resolver, event data class, logger, metrics, tracer decorators")
    ratios.append(
        (f"warm invocation p50, {version}", percentile(ours, 50), percentile(naive, 50), "ms")
    )
    ratios.append(
        (f"warm invocation p95, {version}", percentile(ours, 95), percentile(naive, 95), "ms")
    )

    print(
        f"\n== New TCP connections opened by one process over {runs[0] + 1} (ours) and "
        f"{runs[1] + 1} (naive) invocations with 3-9 s left each (target: 1 per upstream)"
    )
    print(
        table(
            ["upstream", "ours", "naive", "naive/ours"],
            [
                [
                    name,
                    str(connections["ours"][name]),
                    str(connections["naive"][name]),
                    f"{connections['naive'][name] / max(connections['ours'][name], 1):.0f}x",
                ]
                for name in ("dynamodb", "stripe")
            ],
        )
    )
    for name in ("dynamodb", "stripe"):
        ratios.append(
            (
                f"{name} connections, {version}",
                connections["ours"][name],
                connections["naive"][name],
                "conn",
            )
        )


def package_size(cache: Path, python313: str, ratios: list) -> None:
    """The deployment package for python3.13 arm64: ours as handler/Makefile builds it, naive as
    `sam build`'s default pip workflow would."""
    import zipfile

    print(
        "\n== Deployment package for python3.13 arm64 (manylinux2014_aarch64): ours = "
        "handler/Makefile (locked pins, .pyc); naive = sam build's default pip workflow"
    )
    mb = 1024 * 1024
    packages = {kind: build_package(kind, "aarch64", python313, cache) for kind in APPS}
    sizes: dict[str, dict[str, int]] = {}
    totals: dict[str, tuple[float, float]] = {}
    for kind, target in packages.items():
        files = [f for f in sorted(target.rglob("*")) if f.is_file()]
        sizes[kind] = {}
        for f in files:
            entry = f.relative_to(target).parts[0]
            sizes[kind][entry] = sizes[kind].get(entry, 0) + f.stat().st_size
        archive = cache / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.relative_to(target))
        totals[kind] = (sum(sizes[kind].values()) / mb, archive.stat().st_size / mb)
        archive.unlink()
    pyc = sum(f.stat().st_size for f in packages["ours"].rglob("*.pyc")) / mb
    rows = [
        [kind, f"{unzipped:.1f}", f"{zipped:.1f}"] for kind, (unzipped, zipped) in totals.items()
    ]
    rows.append(["naive/ours", *(f"{totals['naive'][i] / totals['ours'][i]:.2f}x" for i in (0, 1))])
    print(table(["package", "unzipped MB", "zipped MB"], rows))
    print(f"   ours includes {pyc:.1f} MB of .pyc (unzipped)")
    top = sorted(sizes["ours"].items(), key=lambda item: -item[1])[:10]
    print(
        table(
            ["10 largest top-level entries, ours", "MB", "naive MB"],
            [
                [entry, f"{size / mb:.1f}", f"{sizes['naive'].get(entry, 0) / mb:.1f}"]
                for entry, size in top
            ],
        )
    )
    extra = sorted(e for e in set(sizes["naive"]) - set(sizes["ours"]) if "." not in e)
    print("   naive adds:", ", ".join(f"{e} {sizes['naive'][e] / mb:.1f} MB" for e in extra))
    for label, i in (("unzipped", 0), ("zipped", 1)):
        ratios.append((f"package {label}", totals["ours"][i], totals["naive"][i], "MB"))


def locked_version(name: str) -> str:
    lock = (ROOT / "uv.lock").read_text()
    marker = f'name = "{name}"\nversion = "'
    start = lock.index(marker) + len(marker)
    return lock[start : lock.index('"', start)]


def percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, app, value, _, out = sys.argv[2:7]
        if kind == "cold":
            child_cold(app, float(value), Path(out))
        else:
            child_warm(app, int(value), Path(out))
    elif sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        main(sys.argv[1:])
