"""The deploy pipeline's pieces that run outside GitHub: tools.deploy's options for promoting
one package (read by the SAM CLI's own parser), the pinned uv matching uvw.py's, and
.github/workflows/smoke.sh against a local HTTP server and a stub `aws` on PATH."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from samcli.commands.deploy.command import cli as sam_deploy

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
