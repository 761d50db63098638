"""The deploy pipeline's pieces that run outside GitHub: tools.deploy's options for promoting
one package (read by the SAM CLI's own parser), the pinned uv matching uvw.py's, and
.github/workflows/smoke.sh against a local HTTP server and a stub `aws` on PATH."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from samcli.commands.deploy.command import cli as sam_deploy

import uvw
from tools import deploy, samconfig

ROOT = Path(__file__).resolve().parent.parent


def test_a_packaged_template_deploys_as_is_under_the_execution_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The profile samconfig.toml names (the pipeline's profile.sh writes it), with no keys.
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile billing-portal-prod]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    packaged = tmp_path / "packaged.yaml"
    shutil.copy(ROOT / "template.yaml", packaged)
    role = "arn:aws:iam::123456789012:role/billing-portal-cfn-execution"
    command = deploy.sam_deploy_command(
        samconfig.load("prod"), {}, tmp_path, template_file=packaged, role_arn=role
    )
    # What `sam deploy` itself makes of the command line tools.deploy runs.
    params = sam_deploy.make_context("deploy", command[4:]).params
    assert params["template_file"] == str(packaged)
    assert params["role_arn"] == role
    assert params["config_env"] == "prod"
    assert params["stack_name"] == "billing-portal-prod"  # samconfig.toml found, not beside it
    assert deploy.parse(["--template-file", "p.yaml"]).template_file == Path("p.yaml")


# smoke.sh against a local stand-in for the deployed API and a stub `aws` on PATH that answers
# describe-stacks and the readiness invoke as the AWS CLI prints them.
SMOKE = ROOT / ".github" / "workflows" / "smoke.sh"
TOKEN = "eyJ.test-user.sig"
SESSION_URL = "https://billing.stripe.com/p/session/test_secret123"
STUB_AWS = r"""#!/usr/bin/env python3
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["STUB_AWS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    key = re.search(r"OutputKey=='(\w+)'", args[args.index("--query") + 1]).group(1)
    print({"BillingPortalUrl": os.environ["STUB_URL"], "FunctionName": "bp-fn"}.get(key, "None"))
elif args[:2] == ["lambda", "invoke"]:
    with open(args[-1], "w") as out:
        out.write(os.environ["STUB_READY"])
    print(json.dumps({"StatusCode": 200, "ExecutedVersion": "7"}))
else:
    sys.exit(f"stub aws: unexpected {args}")
"""
READY = {"ready": True, "checks": [{"name": "stripe key", "ok": True, "detail": "live key"}]}


class Api(BaseHTTPRequestHandler):
    """The deployed endpoint: 401 without a token; with one, what the test set."""

    anonymous = 401
    answer: tuple[int, dict[str, str]] = (200, {"url": SESSION_URL})

    def do_GET(self) -> None:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            status, body = self.answer
        else:
            status, body = self.anonymous, {"title": "Unauthorized"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def smoke(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    stub = tmp_path / "bin" / "aws"
    stub.parent.mkdir()
    stub.write_text(STUB_AWS)
    stub.chmod(0o755)

    def run(
        mode: str = "live", token: str = "", ready: object = READY
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
            "STUB_AWS_LOG": str(tmp_path / "aws.log"),
            "STUB_URL": f"http://127.0.0.1:{server.server_port}/billing/portal",
            "STUB_READY": json.dumps(ready),
            "SMOKE_TOKEN": token,
        }
        return subprocess.run(  # noqa: S603 - our own script
            [str(SMOKE), "billing-portal-prod", mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    yield run
    server.shutdown()
    server.server_close()


def aws_calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "aws.log").read_text().splitlines()]


def test_smoke_without_a_token_runs_the_readiness_check_on_live(smoke: Any, tmp_path: Path) -> None:
    done = smoke("live")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "smoke: GET without a token: 401",
        "smoke: readiness of bp-fn:live (version 7): ready (stripe key)",
        "smoke: no SMOKE_TOKEN: JwtIssuer and JwtAudience were not exercised",
    ]
    [invoke] = [call for call in aws_calls(tmp_path) if call[:2] == ["lambda", "invoke"]]
    assert invoke[invoke.index("--function-name") + 1] == "bp-fn:live"
    assert json.loads(invoke[invoke.index("--payload") + 1]) == {"readiness": {"live_key": True}}
    assert smoke("test").returncode == 0
    [_, dev] = [call for call in aws_calls(tmp_path) if call[:2] == ["lambda", "invoke"]]
    assert json.loads(dev[dev.index("--payload") + 1]) == {"readiness": {"live_key": False}}


def test_smoke_fails_on_a_version_that_is_not_ready(smoke: Any) -> None:
    failing = {
        "ready": False,
        "checks": [
            {"name": "settings", "ok": True, "detail": "ok"},
            {"name": "stripe key", "ok": False, "detail": "a test-mode key where live is needed"},
        ],
    }
    done = smoke("live", ready=failing)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        "smoke: readiness: stripe key failed: a test-mode key where live is needed"
    )
    assert smoke("live", ready={"message": "Internal server error"}).returncode == 1


def test_smoke_fails_on_a_route_open_without_a_token(smoke: Any) -> None:
    Api.anonymous = 200
    try:
        done = smoke("live")
    finally:
        Api.anonymous = 401
    assert done.returncode == 1
    assert "without a token answered 200, not 401" in done.stdout


def test_smoke_with_a_token_opens_a_session_and_never_prints_it(smoke: Any) -> None:
    done = smoke("live", token=TOKEN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout.splitlines()[-1]
        == "smoke: GET with a test user's token: 200 and a portal session"
    )
    assert SESSION_URL not in done.stdout + done.stderr and TOKEN not in done.stdout + done.stderr


def test_smoke_with_a_token_the_issuer_refuses_fails(smoke: Any) -> None:
    # A wrong JwtAudience: the token is refused, which the 401-only smoke could not tell.
    done = smoke("live", token="eyJ.other-audience.sig")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        'smoke: GET with SMOKE_TOKEN answered 401: {"title": "Unauthorized"}'
    )
    Api.answer = (500, {"detail": f"oops {SESSION_URL}"})
    try:
        done = smoke("live", token=TOKEN)
    finally:
        Api.answer = (200, {"url": SESSION_URL})
    assert done.returncode == 1 and SESSION_URL not in done.stdout
    assert "<session url>" in done.stdout


WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


def test_the_pipeline_installs_the_uv_uvw_py_pins_by_hash() -> None:
    text = (ROOT / ".github" / "workflows" / "uv-requirements.txt").read_text()
    assert f"{uvw.UV_REQUIREMENT} \\" in text.splitlines()
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) >= 1
    runs = [step["run"] for job in jobs().values() for step in job["steps"] if "run" in step]
    installs = [run for run in runs if "pip install" in run]
    assert installs and all("--require-hashes" in run for run in installs)
    uv_runs = re.findall(r"uv run[^\n]*", "\n".join(runs))
    assert uv_runs and all(run.startswith("uv run --locked ") for run in uv_runs)


def test_every_action_is_a_commit_and_only_main_gets_credentials() -> None:
    uses = re.findall(r"uses: (\S+)@(\S+)(.*)", WORKFLOW.read_text())
    assert uses
    for action, ref, comment in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action}@{ref}"
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), f"{action}: the tag in a comment"
    for name, job in jobs().items():
        if job.get("permissions", {}).get("id-token") == "write" or "environment" in job:
            assert job["if"] == "github.ref == 'refs/heads/main'", name
    # The test job (ruff, mypy, the suite) comes before anything that holds credentials.
    assert jobs()["package"]["needs"] == "test"
    assert [jobs()[name]["needs"] for name in ("dev", "prod")] == ["package", "dev"]


def jobs() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return found
