"""uvw.py, the README's way to run uv on any Python (also an externally managed system Python).

Installing uv needs PyPI, so that path is proven by .ci/run (a fresh clone, the system
Python, an empty HOME); here: what it runs, and the one line when it cannot make a venv.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake uv is a shell script")


def bootstrap(tmp_path: Path) -> Path:
    """A copy of uvw.py in an empty folder, so its .venv-tools/ is the test's own."""
    shutil.copy(ROOT / "uvw.py", tmp_path / "uvw.py")
    return tmp_path / "uvw.py"


def test_it_runs_the_uv_on_path_with_the_arguments_and_this_python(tmp_path: Path) -> None:
    # Given a uv on PATH that prints what it was given
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "uv"
    fake.write_text('#!/bin/sh\necho "uv $* python=$UV_PYTHON"\nexit 3\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "UV_PYTHON"}
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin:/bin"

    # When the README's test command runs
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, str(bootstrap(tmp_path)), "run", "pytest"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then that uv runs it, with the dev tools' group, on the Python that ran uvw.py, and its
    # exit status is the answer
    assert done.stdout == f"uv run --group dev pytest python={sys.executable}\n"
    assert done.returncode == 3
    assert not (tmp_path / ".venv-tools").exists()


def test_without_uv_or_ensurepip_it_says_how_to_get_python3_venv(tmp_path: Path) -> None:
    # Given no uv anywhere and a Python without ensurepip (Debian without python3-venv)
    script = bootstrap(tmp_path)
    code = (
        "import runpy, sys; sys.modules['ensurepip'] = None; sys.modules['uv'] = None; "
        f"sys.argv = [{str(script)!r}, 'run', 'pytest']; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    env = {**os.environ, "PATH": str(tmp_path / "nothing")}

    # When it runs
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )

    # Then one plain line says what to install, and nothing was half made
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("uvw.py: this Python cannot make a virtual environment")
    assert "sudo apt install python3-venv" in done.stderr
    assert not (tmp_path / ".venv-tools").exists()


def _uvw() -> Any:
    spec = importlib.util.spec_from_file_location("uvw", ROOT / "uvw.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("command", "uv_gets"),
    [
        # The demo: the default group only (no pytest, ruff, mypy, SAM CLI, Playwright).
        ("run python -m local.server", "run python -m local.server"),
        ("run python -m local.server --port 0", "run python -m local.server --port 0"),
        ("run python -m tools.link_customer u cus_1 --local x", None),
        ("run python -m tools.portal_config check portal.yaml", None),
        # Everything else: the dev tools too.
        ("run pytest", "run --group dev pytest"),
        ("run pytest tests/test_x.py -q", "run --group dev pytest tests/test_x.py -q"),
        ("run ruff check .", "run --group dev ruff check ."),
        ("run python -m tools.deploy", "run --group dev python -m tools.deploy"),
        ("run python -m bench.perf", "run --group dev python -m bench.perf"),
        ("sync --frozen", "sync --group dev --frozen"),
        # The caller's own choice of groups, and commands that take none, pass unchanged.
        ("run --no-dev pytest", None),
        ("sync --all-groups", None),
        ("run --group demo python -c 1", None),
        ("lock", None),
        ("--version", None),
    ],
)
def test_the_demo_gets_the_default_group_and_every_other_command_the_dev_tools(
    command: str, uv_gets: str | None
) -> None:
    assert " ".join(_uvw().with_groups(command.split())) == (uv_gets or command)
