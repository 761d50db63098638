"""Benchmark: cold start, warm path, connections, size and token checks, ours vs the naive shape.

    python3 uvw.py run python -m bench.perf                  # every section, ~6 minutes
    python3 uvw.py run python -m bench.perf --only warm      # the warm path and its own overhead
    python3 uvw.py run python -m bench.perf --only cold --cold-runs 30 --pythons 3.13
    python3 uvw.py run python -m bench.perf --instructions   # instruction counts (valgrind)

Sections (--only, comma-separated): cold, warm, connections, size, auth. Prints tables and
naive/ours ratios; asserts nothing. Take medians, and expect noise on a busy machine (it prints
the load; CPU times suffer less from it than wall times, instruction counts not at all).

- Runtimes: on 3.13 (what template.yaml deploys) the handler runs from deployment packages built
  for this machine's platform: ours is what `sam build` ships (handler/Makefile: the locked pins,
  .pyc), "default pip" what `sam build`'s default pip workflow would ship (dependencies resolved,
  so botocore too; no .pyc), each on the path ahead of a virtualenv holding only boto3, as Lambda
  puts /var/task ahead of its runtime's boto3. On 3.11 and 3.12 it runs in virtualenvs holding
  the locked runtime dependencies plus boto3, bytecode-compiled. All are built once under
  $BENCH_CACHE (default /tmp), per checkout, from pyenv's Pythons. Children get Lambda's
  environment.
- Stand-ins: DynamoDB is moto's server behind a keep-alive proxy that counts connections, Stripe
  is testing/fake_stripe.py, both in another process over loopback (no shared GIL); the Stripe
  key comes from an SSM SecureString, as deployed.
- cold: fresh interpreters, median of --cold-runs, spawn to a ready handler and to its first
  response, wall and CPU time.
- warm: invocations of the real lambda_handler in one process after a first one, each next to
  the same two upstream exchanges made alone (bench/child.py's warm()); own overhead = an
  invocation less its neighbouring exchanges. Stages timed by wrapping functions from outside.
- connections: new TCP connections per upstream over those invocations.
- size: the two packages for manylinux2014_aarch64 (what the template deploys), zipped.
- auth: in-function token verification (AuthMode=function), in this process.
- --instructions: cold and warm as instructions executed instead (bench/instructions.py).

Each app runs in a child process, bench/child.py, in a runtime that holds only the package.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bench.child import STAGES
from bench.common import run, table

if TYPE_CHECKING:
    import subprocess

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "handler"  # the directory holding the package
PACKAGE = HANDLER / "billing_portal"  # the code that ships
CHILD = Path(__file__).resolve().parent / "child.py"
# Where the deployed function reads the Stripe key (template.yaml's StripeApiKeyParam default).
KEY_PARAM = "/billing-portal/stripe-api-key"
# What the Lambda runtime (python3.13) sets in the function's environment, as far as a library
# could read it: the X-Ray SDK samples locally instead of building a botocore client at import,
# and Tracer is on (template.yaml: Tracing: Active) with this request not sampled, as most are.
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
SECTIONS = "cold,warm,connections,size,auth"


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


def main(argv: list[str]) -> None:
    import argparse
    import hashlib
    import platform
    import shlex
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=SECTIONS, help=f"sections to run, of {SECTIONS}")
    parser.add_argument("--cold-runs", type=int, default=12, help="fresh processes per app")
    parser.add_argument("--warm", type=int, default=2000, help="warm invocations, ours")
    parser.add_argument(
        "--warm-naive", type=int, default=500, help="warm invocations, naive (slower per call)"
    )
    parser.add_argument("--pythons", default="3.11,3.12,3.13", help="versions to find under pyenv")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="cold and warm as instructions executed (valgrind), on 3.13, instead of time",
    )
    parser.add_argument(
        "--package",
        type=Path,
        help="a 3.13 deployment package to measure instead of handler/Makefile's (say, a copy of "
        "it with one change reverted, to see what the change saves)",
    )
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    print("command:", shlex.join(sys.orig_argv), f"(in {Path.cwd()})")
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (numbers are noisy when load is high)"
    )

    # One folder per checkout: two worktrees' runs would otherwise rebuild each other's
    # packages, and measure the other's code, mid-run.
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    cache = Path(os.environ.get("BENCH_CACHE", tempfile.gettempdir()))
    cache = cache / f"billing-portal-bench-{checkout}"
    cache.mkdir(parents=True, exist_ok=True)
    versions = ["3.13"] if args.instructions else args.pythons.split(",")
    python313 = pyenv_python("3.13") if "3.13" in versions else None
    runtimes = find_runtimes(versions, cache, python313)
    if args.package:
        package = args.package.resolve()
        runtimes = [r._replace(package=package) if r.label == "3.13" else r for r in runtimes]
    compiled = [runtime for runtime in runtimes if not runtime.label.endswith(NO_PYC)]
    ratios: list[tuple[str, float, float, str]] = []

    upstreams = start_upstreams()
    assert upstreams.stdin is not None and upstreams.stdout is not None
    env = child_environment(json.loads(upstreams.stdout.readline()))

    def counts() -> dict[str, int]:
        assert upstreams.stdin is not None and upstreams.stdout is not None
        upstreams.stdin.write("counts\n")
        upstreams.stdin.flush()
        return dict(json.loads(upstreams.stdout.readline()))

    def child(runtime: Runtime, *child_args: str) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            run(
                [str(runtime.python), str(CHILD), *child_args, out.name],
                cwd=ROOT,
                env={**env, **package_env(runtime)},
                stdout=subprocess.DEVNULL,
            )
            return dict(json.loads(Path(out.name).read_text()))

    try:
        if args.instructions:
            from bench import instructions

            ours313 = next(r for r in compiled if r.label == "3.13")
            print(f"package: {ours313.package}")
            instructions.measure(sections, ours313, {**env, **package_env(ours313)})
            return
        if "cold" in sections:
            cold_start(runtimes, args.cold_runs, child, ratios)
        if sections & {"warm", "connections"} and compiled:
            runs = (args.warm, args.warm_naive)
            warm_path(compiled[-1], runs, sections, child, counts, ratios)
    finally:
        upstreams.stdin.close()
        upstreams.wait(timeout=10)
    if "size" in sections and python313:
        package_size(cache, python313, ratios)
    if "auth" in sections:
        token_checks()

    print("\n== Summary: naive / ours (higher means ours is better)")
    print(
        table(
            ["figure", "ours", "naive", "naive/ours"],
            [
                [name, f"{ours:.2f} {unit}", f"{naive:.2f} {unit}", f"{naive / ours:.2f}x"]
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


def child_environment(urls: dict[str, str]) -> dict[str, str]:
    """A child's whole environment, as in Lambda and nothing of this shell's: the function's
    variables as template.yaml sets them (default parameters), the demo settings over them (no
    EC2 metadata lookups), Lambda's own variables, the stand-ins' URLs, and the Stripe key's
    SSM parameter, as deployed."""
    # The parent's venv only: children lack yaml and samtranslator.
    from testing.harness import DEMO_SETTINGS
    from tools.cfn import Stack

    env = {
        **{name: str(value) for name, value in Stack().environment().items()},
        **DEMO_SETTINGS,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /var/task is read-only
        **LAMBDA_ENVIRONMENT,
        "STRIPE_API_BASE": urls["stripe"],
        "AWS_ENDPOINT_URL_DYNAMODB": urls["dynamodb"],
        "STRIPE_API_KEY_PARAM": KEY_PARAM,
        "AWS_ENDPOINT_URL_SSM": urls["ssm"],
    }
    del env["STRIPE_API_KEY"]
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
        install = ["pip", "install", "-q", "--compile-bytecode"]
        run([*uv, *install, "--python", str(venv / "bin" / "python"), "-r", str(reqs)], env=env)
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
        command += [f"ARTIFACTS_DIR={target}", f"PLATFORM={machine}-manylinux2014"]
        command += [f"PIP_PLATFORM=manylinux2014_{machine}"]  # uv's spelling, and pip's
        command += [f"PYTHON={python313}"]
    else:
        command = [*uv_command(), "pip", "install", "-q", "--target", str(target)]
        command += ["--python-platform", f"{machine}-manylinux2014", "--python-version", "3.13"]
        command += ["--only-binary", ":all:", "-r", str(HANDLER / "requirements.txt")]
    run(command, cwd=ROOT, env=uv_env(), capture_output=True)
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
        ratio = [f"{median['naive'][k] / median['ours'][k]:.2f}x" for k in figures]
        rows.append([version, "naive/ours", *ratio])
        for key, label in figures.items():
            ratios.append(
                (f"cold start {label}, {version}", median["ours"][key], median["naive"][key], "ms")
            )
    print(table(["python", "app", *figures.values()], rows))
    for version in [v for v in medians if v + NO_PYC in medians]:
        # Code and build together: ours as handler/Makefile ships it, the naive shape as the
        # default pip workflow would (it unzips wheels and compiles nothing).
        for key in ("first", "first_cpu"):
            name = f"cold start {figures[key]}, {version}: ours as built, naive by default pip"
            ours, naive = medians[version]["ours"][key], medians[version + NO_PYC]["naive"][key]
            ratios.append((name, ours, naive, "ms"))
    print(
        f"   3.13: ours = the package handler/Makefile builds; {NO_PYC.strip()} = the package"
        " of sam build's default pip workflow, every module compiled at import (median of "
        f"{max(5, runs // 4)} runs)"
    )


def warm_path(
    runtime: Runtime,
    runs: tuple[int, int],
    sections: set[str],
    child: Any,
    counts: Any,
    ratios: list,
) -> None:
    version = runtime.label
    invocations = dict(zip(("ours", "naive"), runs, strict=True))
    results = {}
    connections = {}
    for app in ("ours", "naive"):
        before = counts()
        results[app] = child(runtime, "warm", app, str(invocations[app]))
        after = counts()
        alone = results[app]["alone_opened"]
        connections[app] = {name: after[name] - before[name] - alone[name] for name in after}
        if results[app]["statuses"] != {"303": invocations[app]}:
            print(f"   warning: {app} answered {results[app]['statuses']}")

    if "warm" in sections:
        print(
            f"\n== Warm path, Python {version}: {runs[0]} (ours) and {runs[1]} (naive) invocations "
            "of the real lambda_handler after a first one, each paired with the same two "
            "exchanges made alone (DynamoDB GetItem through the same proxy to moto, Stripe "
            "session create to the stand-in; http.client, kept-alive), interleaved (ms)"
        )
        rows = []
        own: dict[str, list[float]] = {}
        for app in ("ours", "naive"):
            data = results[app]
            # Paired: each invocation less the stand-ins-alone sample of its own iteration, then
            # percentiles of those differences. A difference of percentiles would subtract two
            # distributions whose tails need not come from the same moments; pairs cancel what
            # hit both (load, the stand-ins' pauses), which is most of the noise here.
            own[app] = [t - a for t, a in zip(data["total"], data["alone"], strict=True)]
            pairs = zip(data["total_cpu"], data["alone_cpu"], strict=True)
            data["own_cpu"] = [t - a for t, a in pairs]
            # The same, per upstream call: the stage that makes it less that exchange alone.
            for stage, upstream in (("lookup", "dynamodb"), ("stripe", "stripe")):
                if stage in data["stages"]:
                    pairs = zip(data["stages"][stage], data[f"alone_{upstream}"], strict=True)
                    data[f"own_{stage}"] = [t - a for t, a in pairs]
            # What pairing leaves of the stand-ins' own noise: stand-ins-alone samples two
            # iterations apart (the same order, so the same kind of sample before each), less
            # each other. Its p95 is the part of the own overhead's p95 noise can explain.
            alone = data["alone"]
            data["floor"] = [alone[i] - alone[i - 2] for i in range(2, len(alone))]
            data["own"] = own[app]
            data["other"] = [
                total - sum(stage[i] for stage in data["stages"].values())
                for i, total in enumerate(data["total"])
            ]
        names = {
            "total": "invocation",
            "alone": "stand-ins alone (the two exchanges)",
            "alone_dynamodb": "  of which GetItem",
            "alone_stripe": "  of which session create",
            "own": "own overhead (invocation less its pair)",
            "own_lookup": "  in the lookup: stage less GetItem alone",
            "own_stripe": "  in the Stripe call: stage less session create alone",
            "own_cpu": "own overhead, CPU time of this process",
            "floor": "noise floor (stand-ins alone less another)",
        }
        names |= {stage: f"stage: {stage}" for stage, *_ in STAGES["ours"]}
        names["other"] = "other (invocation less the stages)"
        for key, label in names.items():
            row = [label]
            for app in ("ours", "naive"):
                values = results[app].get(key) or results[app]["stages"].get(key)
                row += [f"{percentile(values, p):.2f}" if values else "n/a" for p in (50, 95)]
            rows.append(row)
        print(table(["figure", "ours p50", "ours p95", "naive p50", "naive p95"], rows))
        print(
            "   other = resolver, event data class, logger, metrics, tracer decorators; "
            "lookup and stripe hold the stand-ins' time"
        )
        p50, p95 = percentile(own["ours"], 50), percentile(own["ours"], 95)
        met = "met" if p50 <= 0.5 and p95 <= 1.5 else "not met"
        print(f"   goal for ours' own overhead, p50 <= 0.5 ms and p95 <= 1.5 ms: {met}")
        for key, name in (("total", "warm invocation"), ("own", "warm own overhead")):
            for p in (50, 95):
                ours, naive = (percentile(results[app][key], p) for app in ("ours", "naive"))
                ratios.append((f"{name} p{p}, {version}", ours, naive, "ms"))

    if "connections" in sections:
        print(
            f"\n== New TCP connections opened by one process over {runs[0] + 1} (ours) and "
            f"{runs[1] + 1} (naive) invocations with 3-9 s left each (target: 1 per upstream; "
            "the stand-ins-alone exchanges' own left out)"
        )
        rows = [
            [name, str(connections["ours"][name]), str(connections["naive"][name])]
            for name in ("dynamodb", "stripe")
        ]
        print(table(["upstream", "ours", "naive"], rows))
        for name in ("dynamodb", "stripe"):
            ours, naive = connections["ours"][name], connections["naive"][name]
            ratios.append((f"{name} connections, {version}", ours, naive, "conn"))


def package_size(cache: Path, python313: str, ratios: list) -> None:
    """The deployment package for python3.13 arm64: ours as handler/Makefile builds it, naive as
    `sam build`'s default pip workflow would."""
    import zipfile

    print(
        "\n== Deployment package for python3.13 arm64 (manylinux2014_aarch64): ours = "
        "handler/Makefile (locked pins, .pyc); naive = sam build's default pip workflow"
    )
    mb = 1024 * 1024
    packages = {
        kind: build_package(kind, "aarch64", python313, cache) for kind in ("ours", "naive")
    }
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
    print(table(["package", "unzipped MB", "zipped MB"], rows))
    print(f"   ours includes {pyc:.1f} MB of .pyc (unzipped)")
    extra = sorted(e for e in set(sizes["naive"]) - set(sizes["ours"]) if "." not in e)
    print("   naive adds:", ", ".join(f"{e} {sizes['naive'][e] / mb:.1f} MB" for e in extra))
    for label, i in (("unzipped", 0), ("zipped", 1)):
        ratios.append((f"package {label}", totals["ours"][i], totals["naive"][i], "MB"))


def token_checks(tokens: int = 2000, forged: int = 1000) -> None:
    """In-function token verification (AuthMode=function), in this process against a local
    issuer: the first token (JWKS fetched), then cached keys; and how many JWKS fetches a burst
    of tokens with forged key ids causes."""
    import statistics

    from billing_portal.errors import Unauthenticated
    from billing_portal.web.tokens import REFETCH_INTERVAL_SECONDS, SigningKeys, TokenVerifier
    from testing.jwks_server import Issuer

    with Issuer() as issuer:
        now = [0.0]  # a clock moved by hand, so the burst starts past the refetch interval
        verifier = TokenVerifier(
            issuer.issuer, ["app"], SigningKeys(issuer.jwks_url, clock=lambda: now[0])
        )
        token = issuer.token(issuer.claims(aud="app"))
        started = time.perf_counter()
        verifier.verify(token)
        first_ms = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(tokens):
            started = time.perf_counter()
            verifier.verify(token)
            times.append(time.perf_counter() - started)
        now[0] += REFETCH_INTERVAL_SECONDS + 1
        fetches = issuer.fetches
        rejected = 0
        started = time.perf_counter()
        for i in range(forged):
            try:
                verifier.verify(issuer.token(issuer.claims(aud="app"), kid=f"forged-{i}"))
            except Unauthenticated:
                rejected += 1
        burst_s = time.perf_counter() - started
        fetches = issuer.fetches - fetches
    print("\n== In-function token verification (AuthMode=function), in this process")
    print(f"   first token, JWKS fetch included: {first_ms:.2f} ms")
    print(
        f"   cached keys, median / p95 of {tokens}: {statistics.median(times) * 1e6:.0f} / "
        f"{percentile(times, 95) * 1000:.0f} us"
    )
    print(
        f"   forged key ids: {rejected}/{forged} rejected in {burst_s:.2f} s, JWKS fetches "
        f"during the burst: {fetches} (at most one per {REFETCH_INTERVAL_SECONDS:g} s)"
    )


def locked_version(name: str) -> str:
    lock = (ROOT / "uv.lock").read_text()
    marker = f'name = "{name}"\nversion = "'
    start = lock.index(marker) + len(marker)
    return lock[start : lock.index('"', start)]


def percentile(values: list[float], pct: int) -> float:
    """The pct-th percentile of values in seconds, in ms (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        main(sys.argv[1:])
