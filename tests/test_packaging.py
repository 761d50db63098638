"""What ships: handler/requirements.txt matches the lock file, template.yaml matches the code, and
handler/Makefile builds for the template's runtime and architecture."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from testing.harness import ROOT, table_definition
from tools.cfn import TEMPLATE, template

REQUIREMENTS = ROOT / "handler" / "requirements.txt"


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    # `uv run` tells child processes where its binary is.
    uv = os.environ.get("UV", "uv")
    return subprocess.run([uv, *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603


def test_lock_file_matches_pyproject() -> None:
    result = _uv("lock", "--check")

    assert result.returncode == 0, result.stderr


def test_lambda_requirements_are_exported_from_the_lock_file() -> None:
    # The file's own header holds the command that generated it; run it again and compare.
    command = REQUIREMENTS.read_text().splitlines()[1].lstrip("# ").strip()
    args = shlex.split(command)
    assert args[:2] == ["uv", "export"]
    output = [*args[1:-2], "--quiet"]  # without "-o FILE": print instead of writing

    result = _uv(*output)

    assert result.returncode == 0, result.stderr
    expected = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    actual = [line for line in REQUIREMENTS.read_text().splitlines() if not line.startswith("#")]
    assert actual == expected, f"handler/requirements.txt drifted; regenerate with: {command}"


def test_the_build_installs_only_wheels_whose_hashes_the_lock_file_holds() -> None:
    pins = [line for line in REQUIREMENTS.read_text().splitlines() if "==" in line]
    makefile = (ROOT / "handler" / "Makefile").read_text()

    assert pins
    assert all(line.endswith("\\") for line in pins)  # each pin continues with its --hash lines
    assert REQUIREMENTS.read_text().count("--hash=sha256:") >= len(pins)
    assert "--require-hashes" in makefile


def test_every_method_the_function_refuses_is_routed_to_it_behind_the_same_authorizer() -> None:
    # Otherwise API Gateway answers its own 404 and the contract's 405 never reaches a caller.
    resources = template()["Resources"]
    events = resources["BillingPortalFunction"]["Properties"]["Events"].values()
    routed = {e["Properties"]["Method"] for e in events if e["Type"] == "HttpApi"}
    paths = resources["BillingApi"]["Properties"]["DefinitionBody"]["paths"]["/billing/portal"]

    assert routed == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert {method.upper() for method in paths} == routed
    assert len({repr(spec["security"]) for spec in paths.values()}) == 1


def test_boto3_is_left_to_the_lambda_runtime() -> None:
    names = {line.split("==")[0] for line in REQUIREMENTS.read_text().splitlines() if "==" in line}

    assert {"stripe", "aws-lambda-powertools", "pydantic"} <= names
    assert not {"boto3", "botocore", "s3transfer"} & names


def test_template_handler_points_at_the_entry_point() -> None:
    text = TEMPLATE.read_text()

    assert "Handler: billing_portal.app.lambda_handler" in text
    assert "CodeUri: handler/" in text
    assert (Path(ROOT) / "handler" / "billing_portal" / "app.py").exists()


def test_template_table_key_is_the_default_user_key() -> None:
    [key] = table_definition()["KeySchema"]

    assert key == {"AttributeName": "user_id", "KeyType": "HASH"}


def test_template_declares_every_setting_the_function_reads() -> None:
    # A setting missing from the template can't be set on deploy, and `sam local invoke
    # --env-vars` silently ignores variables the template does not declare.
    from billing_portal.settings import Settings

    function = template()["Resources"]["BillingPortalFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    declared = set(variables) | set(variables["BILLING_PORTAL_SETTINGS"]["Fn::ToJsonString"])
    settings = {field.alias for field in Settings.model_fields.values()}

    assert settings - declared == set()


# --- The build targets the runtime ------------------------------------------------------------

# The wheel platform for each architecture, as uv and as pip (the fallback) spell it.
WHEEL_PLATFORM = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
PIP_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def _make_variables() -> dict[str, str]:
    text = (ROOT / "handler" / "Makefile").read_text()
    return dict(re.findall(r"^([A-Za-z_0-9]+)\s*[:?]?=\s*(.*?)\s*$", text, re.MULTILINE))


def test_the_build_makes_wheels_and_bytecode_for_the_templates_runtime_and_architecture() -> None:
    function = template()["Resources"]["BillingPortalFunction"]["Properties"]
    make = _make_variables()
    [architecture] = function["Architectures"]

    assert function["Runtime"] == f"python{make['PYTHON_VERSION']}"
    assert make["ARCH"] == architecture
    assert make[f"PLATFORM_{architecture}"] == WHEEL_PLATFORM[architecture]
    assert make[f"PIP_PLATFORM_{architecture}"] == PIP_PLATFORM[architecture]
    assert make["PLATFORM"] == "$(PLATFORM_$(ARCH))"
    assert make["PIP_PLATFORM"] == "$(PIP_PLATFORM_$(ARCH))"


def test_the_makefile_names_the_python_version_in_one_place() -> None:
    # Changing PYTHON_VERSION must be enough: no other line may spell the version out.
    version = _make_variables()["PYTHON_VERSION"]
    lines = (ROOT / "handler" / "Makefile").read_text().splitlines()
    code = [line for line in lines if not line.lstrip().startswith("#")]

    assert [line for line in code if version in line] == [f"PYTHON_VERSION := {version}"]
