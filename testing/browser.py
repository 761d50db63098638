"""Chromium for the browser tests (Debian's `chromium`, driven by Playwright): where it is, how it
is started, and why the tests skip where it is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need Playwright: `python3 uvw.py sync` installs it (a dev dependency)"
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` (as .ci/run "
            "does) or set CHROMIUM to a Chromium binary"
        )
    return None


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
