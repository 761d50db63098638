"""local/invoke.py: every event in events/ through the real handler, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

from testing.harness import EVENTS, ROOT


def test_invoke_runs_every_event_without_warnings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "POWERTOOLS_"))}

    done = subprocess.run(
        [sys.executable, "-m", "local.invoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    events = sorted(p.name for p in EVENTS.glob("*.json") if p.name != "env.json")
    answered = [line.split(":")[0].removeprefix("== ") for line in done.stdout.splitlines()]
    assert [name for name in answered if name.endswith(".json")] == events
    # Nothing but the answers: no PowertoolsUserWarning about dimensions piling up.
    assert done.stderr == ""
