"""Benchmark: cold start, warm path, connections and package size, ours vs the naive shape.

    python3 -m uv run python -m bench.perf                        # everything, ~3 min
    python3 -m uv run python -m bench.perf --cold-runs 40 --warm 5000 --only cold,warm

Prints tables and naive/ours ratios; asserts nothing. Take medians, and expect noise on a busy
machine (it prints the load; CPU times suffer less from it than wall times). How it measures:

- The handler runs in "runtime" virtualenvs that hold only what Lambda has (the locked runtime
  dependencies plus boto3, bytecode-compiled like the runtime's own), one per Python found
  (3.11, 3.12, 3.13 under pyenv), built once under $BENCH_CACHE (default /tmp), and once more
  for 3.13 without .pyc, as `sam build` packages it. Children get Lambda's environment.
- DynamoDB is moto's server and Stripe is tests/fake_stripe.py, both in a separate process over
  loopback, so their work does not share a GIL with the handler. A keep-alive proxy in front of
  moto counts the connections the handler opens; the stand-in counts its own.
- Cold start: fresh interpreters, median of --cold-runs, time from spawn to a ready handler
  (imports, settings, clients) and to its first response; `-X importtime` per package.
- Warm path: --warm invocations of the real lambda_handler in one process after a first call;
  stages timed by wrapping module functions from outside (the handler code is unchanged).
- Size: `pip install --target` for manylinux2014_aarch64 / CPython 3.13 (what the template
  deploys), without .pyc files, plus handler/*.py; zipped with deflate.

This file is also the child process (--child ...), so its top level imports only the stdlib.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "handler"
BENCH = ROOT / "bench"
EVENT = ROOT / "events" / "home.json"
APPS = {"ours": "app", "naive": "naive_app"}
USER = "demo-user"
TABLE = "billing-portal-customers"
SETTINGS = {
    "CUSTOMERS_TABLE": TABLE,
    "ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000",
    "DEFAULT_RETURN_URL": "https://app.example.com/account",
    "STRIPE_API_KEY": "sk_test_fake",
    "POWERTOOLS_SERVICE_NAME": "billing-portal",
    "POWERTOOLS_METRICS_NAMESPACE": "BillingPortal",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# What Lambda sets, so libraries take their Lambda paths: the X-Ray SDK samples locally instead of
# building a botocore client at import, and Tracer is on (template.yaml: Tracing: Active) with
# this request not sampled, as most are.
LAMBDA_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": str(HANDLER),
    "AWS_LAMBDA_FUNCTION_NAME": "billing-portal",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=0",
}
# Stage -> where the benchmark wraps it: (module, attribute path). Missing ones are skipped.
STAGES = {
    "ours": [
        ("parse", "app", "parse_request"),
        ("auth", "app", "identify"),
        ("lookup", "customers", "CustomerTable.find"),
        ("stripe", "stripe_api", "StripeApi.create_portal_session"),
        ("response", "app", "portal_response"),
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


def _load(app: str) -> Any:
    sys.path[:0] = [str(HANDLER), str(BENCH)]
    return __import__(APPS[app])


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
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3
    from moto.server import ThreadedMotoServer

    from local.harness import create_table, put_customer
    from tests.fake_stripe import FakeStripe

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
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    create_table(dynamodb, TABLE)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveProxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    with FakeStripe() as fake:
        put_customer(dynamodb, USER, fake.add_customer(email="demo@example.com"), TABLE)
        print(json.dumps({"dynamodb": proxy_url, "stripe": fake.url}), flush=True)
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
    parser.add_argument("--cold-runs", type=int, default=20, help="fresh processes per app")
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
    runtimes = find_runtimes(args.pythons.split(","), cache, no_pyc="3.13")
    compiled = [runtime for runtime in runtimes if not runtime[0].endswith(NO_PYC)]
    ratios: list[tuple[str, float, float, str]] = []

    upstreams = subprocess.Popen(
        [sys.executable, "-m", "bench.perf", "--serve"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert upstreams.stdin is not None and upstreams.stdout is not None
    urls = json.loads(upstreams.stdout.readline())
    env = {
        **{k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ},
        **SETTINGS,
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /var/task is read-only
        **LAMBDA_ENVIRONMENT,
        "STRIPE_API_BASE": urls["stripe"],
        "AWS_ENDPOINT_URL_DYNAMODB": urls["dynamodb"],
    }

    def counts() -> dict[str, int]:
        assert upstreams.stdin is not None and upstreams.stdout is not None
        upstreams.stdin.write("counts\n")
        upstreams.stdin.flush()
        return dict(json.loads(upstreams.stdout.readline()))

    def child(python: Path, *child_args: str) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            run(
                [str(python), str(Path(__file__)), "--child", *child_args, "--out", out.name],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            return dict(json.loads(Path(out.name).read_text()))

    try:
        if "cold" in sections:
            cold_start(runtimes, args.cold_runs, child, ratios)
        if "imports" in sections and compiled:
            import_profile(compiled[-1], env)
        if "warm" in sections:
            chosen = [r for r in compiled if args.warm_python in ("all", r[0])] or compiled[-1:]
            for version, python in chosen:
                warm_path(version, python, (args.warm, args.warm_naive), child, counts, ratios)
    finally:
        upstreams.stdin.close()
        upstreams.wait(timeout=10)
    if "size" in sections:
        package_size(cache, ratios)

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


def uv_command() -> list[str]:
    # `uv run` tells its children where its binary is; else the pip-installed module.
    return [os.environ["UV"]] if os.environ.get("UV") else ["python3", "-m", "uv"]


def uv_env() -> dict[str, str]:
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}  # use pyenv's Pythons, fetch none


NO_PYC = " no .pyc"


def find_runtimes(versions: list[str], cache: Path, no_pyc: str) -> list[tuple[str, Path]]:
    """(label, python) per version found under pyenv, each in a Lambda-like virtualenv; and the
    no_pyc version again without .pyc, as `sam build` packages (it unzips wheels, compiles
    nothing) and as Lambda then runs it (/var/task is read-only, so nothing is cached)."""
    import glob
    import hashlib

    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    uv, env = uv_command(), uv_env()
    requirements = run(
        [*uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        env=env,
    ).stdout
    reqs = cache / "runtime-requirements.txt"
    reqs.write_text(requirements)
    found = []
    wanted = [(v, True) for v in versions] + ([(no_pyc, False)] if no_pyc in versions else [])
    for version, compiled in wanted:
        candidates = sorted(glob.glob(str(pyenv / f"{version}.*" / "bin" / f"python{version}")))
        if not candidates:
            print(f"Python {version}: not found under {pyenv}; skipped")
            continue
        label = version if compiled else version + NO_PYC
        venv = cache / f"runtime-{label.replace(' ', '-')}"
        python = venv / "bin" / "python"
        stamp = hashlib.sha256(f"{candidates[-1]}\n{requirements}".encode()).hexdigest()
        if not (venv / "stamp").exists() or (venv / "stamp").read_text() != stamp:
            started = time.perf_counter()
            run([*uv, "venv", "-q", "--clear", "--python", candidates[-1], str(venv)], env=env)
            install = ["pip", "install", "-q", "--python", str(python), "-r", str(reqs)]
            run([*uv, *install, *(["--compile-bytecode"] if compiled else [])], env=env)
            (venv / "stamp").write_text(stamp)
            print(f"Python {label}: built {venv} in {time.perf_counter() - started:.0f} s")
        found.append((label, python))
    return found


def cold_start(runtimes: list[tuple[str, Path]], runs: int, child: Any, ratios: list) -> None:
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
    for version, python in runtimes:
        results: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": [], "naive": []}
        for _ in range(max(3, runs // 4) if version.endswith(NO_PYC) else runs):
            for app in results:  # interleaved, so drifting load hits all three alike
                results[app].append(child(python, "cold", app, str(time.perf_counter())))
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
        # What the build can change: ours shipped with .pyc (sam build's pip workflow unzips
        # wheels and compiles nothing; `pip install` on Python 3.13 does), naive as sam builds it.
        for key in ("first", "first_cpu"):
            ratios.append(
                (
                    f"cold start {figures[key]}, {version}: ours with .pyc, naive without",
                    medians[version]["ours"][key],
                    medians[version + NO_PYC]["naive"][key],
                    "ms",
                )
            )
    print(
        f"   {NO_PYC.strip()}: median of {max(3, runs // 4)} runs; all packages compiled at import"
    )


def import_profile(runtime: tuple[str, Path], env: dict[str, str]) -> None:
    """Which top-level packages' imports dominate init (python -X importtime, self times)."""
    import statistics

    version, python = runtime
    print(
        f"\n== What init imports cost (python -X importtime, Python {version}, median of 3, ms;"
        " self time summed per top-level package)"
    )
    per_app = {}
    for app in ("ours", "naive"):
        samples: list[dict[str, float]] = []
        for _ in range(3):
            code = f"import sys; sys.path[:0] = {[str(HANDLER), str(BENCH)]}; import {APPS[app]}"
            stderr = run(
                [str(python), "-X", "importtime", "-c", code],
                cwd=ROOT,
                env=env,
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
    version: str, python: Path, runs: tuple[int, int], child: Any, counts: Any, ratios: list
) -> None:
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
        results[app] = child(python, "warm", app, str(invocations[app]))
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


def package_size(cache: Path, ratios: list) -> None:
    """Deployment package for python3.13 arm64: ours, and naive with boto3 packaged too."""
    import shutil
    import zipfile

    print(
        "\n== Deployment package for python3.13 arm64 (manylinux2014_aarch64): "
        "`pip install --target` of handler/requirements.txt + handler/*.py, no .pyc"
    )
    boto3 = f"boto3=={_locked_version((ROOT / 'uv.lock').read_text(), 'boto3')}"
    # uv's pip: the same resolution as pip's (what `sam build` runs), faster and cached. No .pyc:
    # a build on another Python cannot make them for 3.13; Lambda compiles what it imports.
    install = [*uv_command(), "pip", "install", "-q", "--python-platform", "aarch64-manylinux2014"]
    install += ["--python-version", "3.13", "--only-binary", ":all:"]
    requirements = ["-r", str(HANDLER / "requirements.txt")]
    variants = {
        "ours (as sam build: pip resolves deps)": requirements,
        "ours, --no-deps (the exported pins only)": [*requirements, "--no-deps"],
        "naive (requirements list boto3 too)": [*requirements, boto3],
    }
    mb = 1024 * 1024
    totals, contents = {}, {}
    for name, args in variants.items():
        target = cache / "package"
        shutil.rmtree(target, ignore_errors=True)
        run([*install, "--target", str(target), *args], cwd=ROOT, env=uv_env())
        for source in HANDLER.glob("*.py"):
            shutil.copy2(source, target / source.name)
        contents[name] = {
            entry.name: sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            if entry.is_dir()
            else entry.stat().st_size
            for entry in target.iterdir()
        }
        archive = cache / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(target.rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(target))
        totals[name] = (sum(contents[name].values()) / mb, archive.stat().st_size / mb)
        archive.unlink()
    ours, lean, naive = variants
    rows = [
        [name, f"{unzipped:.1f}", f"{zipped:.1f}"] for name, (unzipped, zipped) in totals.items()
    ]
    for name in (ours, lean):
        rows.append(
            [f"naive / {name.split(' (')[0]}"]
            + [f"{totals[naive][i] / totals[name][i]:.2f}x" for i in (0, 1)]
        )
    print(table(["package", "unzipped MB", "zipped MB"], rows))
    top = sorted(contents[ours].items(), key=lambda item: -item[1])[:10]
    print(
        table(
            ["10 largest top-level entries, ours (sam build)", "MB", "with --no-deps"],
            [
                [entry, f"{size / mb:.1f}", "yes" if entry in contents[lean] else "not packaged"]
                for entry, size in top
            ],
        )
    )
    extra = sorted(e for e in set(contents[naive]) - set(contents[ours]) if "." not in e)
    print("   naive adds:", ", ".join(f"{e} {contents[naive][e] / mb:.1f} MB" for e in extra))
    for label, i in (("unzipped", 0), ("zipped", 1)):
        ratios.append((f"package {label}", totals[ours][i], totals[naive][i], "MB"))
        ratios.append((f"package {label}, --no-deps", totals[lean][i], totals[naive][i], "MB"))


def _locked_version(lock: str, name: str) -> str:
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
