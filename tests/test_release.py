"""The project's one version: pyproject.toml's is the one the Serverless Application Repository
metadata in template.yaml publishes, and the CHANGELOG and licence ship with it."""

from __future__ import annotations

import re
import tomllib

from testing.harness import ROOT
from tools.cfn import sam_template


def _project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_the_template_publishes_the_projects_one_version() -> None:
    application = sam_template()["Metadata"]["AWS::ServerlessRepo::Application"]

    assert application["SemanticVersion"] == _project_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", _project_version())


def test_the_changelog_and_licence_ship_with_that_version() -> None:
    application = sam_template()["Metadata"]["AWS::ServerlessRepo::Application"]
    changelog = (ROOT / "CHANGELOG.md").read_text()

    assert re.search(rf"^## \[?{re.escape(_project_version())}\]?", changelog, re.MULTILINE)
    assert application["SpdxLicenseId"] == "MIT"
    assert (ROOT / application["LicenseUrl"]).read_text().startswith("MIT License")
    assert (ROOT / application["ReadmeUrl"]).exists()
