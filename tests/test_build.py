"""handler/Makefile, run as `sam build` runs it: the same commit built in two folders zips (the
way `sam package`/`sam deploy` zip) to the same code hash, from any Python, without Docker.

These builds install the locked wheels with uv (from its cache, else PyPI) and take ~10-15 s."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")

TARGET = "build-BillingPortalFunction"
RUNTIME_TAG = "cpython-313"  # the template's Runtime, as .pyc and extension names spell it


@dataclass
class Build:
    folder: Path
    artifacts: Path
    output: str
    returncode: int

    @property
    def build_paths(self) -> list[Path]:
        return [self.folder, self.artifacts.parent]

    @property
    def bytecode_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("bytecode:")]


def make(folder: Path, artifacts: Path, umask: int = 0o022, **env: str) -> Build:
    """Run the Makefile from a copy of handler/ at `folder`, as sam build does from its scratch
    copy (stray __pycache__ and all)."""
    handler = folder / "handler"
    if not handler.exists():
        shutil.copytree(ROOT / "handler", handler)
    result = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", TARGET, f"ARTIFACTS_DIR={artifacts}"],  # noqa: S607
        cwd=handler,
        env={**os.environ, **env},
        umask=umask,
        capture_output=True,
        text=True,
        check=False,
    )
    return Build(folder, artifacts, result.stdout + result.stderr, result.returncode)


def code_sha256(artifacts: Path, zip_base: Path) -> str:
    """Lambda's CodeSha256 of the zip SAM uploads for this folder: SAM's own zip function."""
    from samcli.lib.package.utils import make_zip_with_lambda_permissions

    name = make_zip_with_lambda_permissions(str(zip_base), str(artifacts))
    return base64.b64encode(hashlib.sha256(Path(name).read_bytes()).digest()).decode()


def files(artifacts: Path) -> list[Path]:
    return sorted(path for path in artifacts.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Build, Build]]:
    # Different depths and names, and a group-writable umask in one (a checkout's modes differ
    # the same way): everything a second machine would change but the filesystem.
    root = tmp_path_factory.mktemp("two-folders")
    one = make(root / "a", root / "a" / ".aws-sam" / "build" / "BillingPortalFunction")
    two = make(root / "b" / "deeper" / "clone", root / "b" / "out" / "Function", umask=0o002)
    assert one.returncode == 0, one.output
    assert two.returncode == 0, two.output
    yield one, two


def test_the_same_commit_built_in_two_folders_has_the_same_code_hash(
    two_builds: tuple[Build, Build], tmp_path: Path
) -> None:
    one, two = two_builds
    leaking = [
        path.relative_to(build.artifacts)
        for build in two_builds
        for path in files(build.artifacts)
        if any(str(where).encode() in path.read_bytes() for where in build.build_paths)
    ]

    assert leaking == []  # no build folder inside any file (.pyc co_filename, RECORD, shebangs)
    assert code_sha256(one.artifacts, tmp_path / "one") == code_sha256(
        two.artifacts, tmp_path / "two"
    )


def test_the_package_holds_the_handler_and_the_runtimes_wheels_but_not_boto3(
    two_builds: tuple[Build, Build],
) -> None:
    artifacts = two_builds[0].artifacts
    top = {path.name for path in artifacts.iterdir()}

    assert (artifacts / "billing_portal" / "app.py").is_file()
    assert {"stripe", "pydantic_core", "aws_lambda_powertools"} <= top
    assert not {"boto3", "botocore", "s3transfer", "bin", ".lock", "Makefile"} & top
    # The Lambda's platform, not this machine's: Python 3.13 on arm64.
    assert [p.name for p in (artifacts / "pydantic_core").glob("*.so")] == [
        f"_pydantic_core.{RUNTIME_TAG}-aarch64-linux-gnu.so"
    ]


def test_bytecode_comes_from_the_runtimes_python_and_names_var_task(
    two_builds: tuple[Build, Build],
) -> None:
    build = two_builds[0]
    if build.bytecode_lines:
        pytest.skip(f"no Python 3.13 on this machine: {build.bytecode_lines[0]}")
    sources = [p for p in files(build.artifacts) if p.suffix == ".py"]
    pyc = [p for p in files(build.artifacts) if p.suffix == ".pyc"]
    app = build.artifacts / "billing_portal" / "__pycache__" / f"app.{RUNTIME_TAG}.pyc"

    assert len(pyc) == len(sources)
    assert all(p.name.endswith(f".{RUNTIME_TAG}.pyc") for p in pyc)
    # 3.13's magic number, and flags 0b01: hash-based, unchecked (a zip's timestamps are coarse).
    assert app.read_bytes()[:8] == (3571).to_bytes(2, "little") + b"\r\n" + b"\x01\x00\x00\x00"
    assert b"/var/task/billing_portal/app.py" in app.read_bytes()


def test_without_python_3_13_the_build_ships_no_bytecode_and_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    # PYTHON set and empty: what a machine without python3.13 (or pyenv's) ends up with.
    build = make(tmp_path, tmp_path / "out", PYTHON="")

    assert build.returncode == 0, build.output
    assert len(build.bytecode_lines) == 1
    assert "no Python 3.13" in build.bytecode_lines[0]
    assert (build.artifacts / "billing_portal" / "app.py").is_file()
    assert (build.artifacts / "stripe" / "__init__.py").is_file()
    assert [p for p in files(build.artifacts) if p.suffix == ".pyc"] == []


def test_a_python_other_than_the_runtimes_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    python311 = shutil.which("python3.11") or ""
    if not python311 or "3.11" not in subprocess.getoutput(f"{python311} -V"):  # noqa: S605
        pytest.skip("no runnable python3.11 here")

    build = make(tmp_path, tmp_path / "out", PYTHON=python311)

    assert build.returncode != 0
    assert re.search(r"is not Python 3\.13 \(the Lambda runtime\)", build.output)
    assert not (tmp_path / "out").exists()


def test_a_failed_build_leaves_the_last_good_build_in_place(tmp_path: Path) -> None:
    good = tmp_path / "out"
    (good / "billing_portal").mkdir(parents=True)
    (good / "billing_portal" / "app.py").write_text("# the last good build\n")

    # No network and an empty cache: uv cannot fetch a wheel, as when PyPI is unreachable.
    build = make(tmp_path, good, PYTHON="", UV_OFFLINE="1", UV_CACHE_DIR=str(tmp_path / "cache"))

    assert build.returncode != 0
    assert [p.relative_to(good) for p in files(good)] == [Path("billing_portal/app.py")]
    assert (good / "billing_portal" / "app.py").read_text() == "# the last good build\n"


def test_the_build_refuses_to_empty_a_folder_that_holds_no_earlier_build(tmp_path: Path) -> None:
    stage, elsewhere = tmp_path / "stage", tmp_path / "home"
    (stage / "billing_portal").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")

    result = subprocess.run(  # noqa: S603
        ["python3", str(ROOT / "handler" / "reproducible_copy.py"), str(stage), str(elsewhere)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"reproducible_copy.py: {elsewhere} is not empty and holds no earlier build;"
        " give an empty folder"
    ]
    assert (elsewhere / "notes.txt").read_text() == "mine"
