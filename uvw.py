"""Run uv on any Python 3.11+, including an "externally managed" system Python (PEP 668).

    python3 uvw.py run pytest                      # = uv run pytest
    python3 uvw.py run python -m local.server      # = uv run python -m local.server

Debian's and Ubuntu's /usr/bin/python3 (and Homebrew's) refuse `pip install uv` outside a
virtual environment, so this script finds uv without installing anything into that Python:
uv on PATH, else uv installed in the Python running this script (`python3 -m uv`), else a
private copy it installs once into .venv-tools/ (a virtual environment beside the project's
.venv; delete the folder to get rid of it). No sudo, no --break-system-packages.

The project's environment is made with the Python running this script (UV_PYTHON), unless
UV_PYTHON is already set.
"""

from __future__ import annotations  # so that Python < 3.11 reaches the version check

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The uv a fresh machine gets; any uv that reads uv.lock will do when one is already there.
UV_REQUIREMENT = "uv==0.13.9"
TOOLS = Path(__file__).resolve().parent / ".venv-tools"
BIN = TOOLS / ("Scripts" if os.name == "nt" else "bin")


def fail(message: str) -> None:
    raise SystemExit(f"uvw.py: {message}")


def installed_uv() -> str | None:
    """uv on PATH, or the uv pip put in this Python."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(uv.find_uv_bin())
    except FileNotFoundError:
        return None


def private_uv() -> str:
    """uv in .venv-tools/, installed there on the first run."""
    uv = BIN / ("uv.exe" if os.name == "nt" else "uv")
    if uv.exists():
        return str(uv)
    try:
        import ensurepip  # noqa: F401  (Debian and Ubuntu ship it in python3-venv)
        import venv
    except ImportError:
        fail(
            "this Python cannot make a virtual environment (no ensurepip): install "
            "python3-venv (Debian/Ubuntu: sudo apt install python3-venv), or install uv "
            "(https://docs.astral.sh/uv/getting-started/installation/), and run this again."
        )
    print(f"uvw.py: installing {UV_REQUIREMENT} into {TOOLS.name}/ (once)", file=sys.stderr)
    shutil.rmtree(TOOLS, ignore_errors=True)  # a half-made one from an interrupted run
    venv.EnvBuilder(with_pip=True).create(TOOLS)
    pip = [str(BIN / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if subprocess.run([*pip, UV_REQUIREMENT], check=False).returncode != 0:  # noqa: S603
        shutil.rmtree(TOOLS, ignore_errors=True)
        fail(f"could not install {UV_REQUIREMENT} (pip's message is above); run this again.")
    return str(uv)


# What the local demo runs needs only the default dependency group ("demo"); every other command
# (pytest, ruff, mypy, sam, tools.deploy, bench...) gets the "dev" group too, installed the first
# time one runs. So the README's first command does not wait for Playwright and the SAM CLI.
DEMO_MODULES = frozenset(
    {"local.server", "local.invoke", "local.openapi", "tools.link_customer", "tools.portal_config"}
)
GROUP_FLAGS = ("--group", "--only-group", "--all-groups", "--no-group", "--no-default-groups")


def with_groups(args: list[str]) -> list[str]:
    """uv's arguments, with `--group dev` after `run` or `sync` unless the command is the demo's
    (`run python -m local.server`) or the caller chose groups."""
    if not args or args[0] not in ("run", "sync"):
        return args
    if any(arg.split("=")[0] in GROUP_FLAGS or arg == "--no-dev" for arg in args):
        return args
    if args[0] == "run":
        for i, arg in enumerate(args[1:-2], 1):
            if arg in ("python", "python3") and args[i + 1] == "-m":
                if args[i + 2] in DEMO_MODULES:
                    return args
                break
    return [args[0], "--group", "dev", *args[1:]]


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs before any project Python)
        fail(f"billing-portal needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    uv = installed_uv() or private_uv()
    os.environ.setdefault("UV_PYTHON", sys.executable)
    argv = [uv, *with_groups(sys.argv[1:])]
    if os.name == "nt":
        raise SystemExit(subprocess.run(argv, check=False).returncode)  # noqa: S603
    # uv takes over this process: Ctrl-C and the exit status are its own.
    os.execv(uv, argv)  # noqa: S606


if __name__ == "__main__":
    main()
