"""local/invoke.py: every event in events/ through the real handler, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def invoke_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-m", "local.invoke", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["events/env.json"], {}, "events/env.json: this is sam local's environment variables"),
        (["events/nope.json"], {}, "events/nope.json: no such file"),
        (["README.md"], {}, "README.md: not JSON"),
        (["pyproject.toml", "events/home.json"], {}, "pyproject.toml: not JSON"),
        (
            ["events/home.json"],
            {"POWERTOOLS_LOG_LEVEL": "LOUD"},
            "POWERTOOLS_LOG_LEVEL: 'LOUD' is not a log level; use one of DEBUG, INFO",
        ),
    ],
)
def test_a_wrong_file_or_log_level_is_one_plain_line(
    args: list[str], env: dict[str, str], says: str
) -> None:
    done = invoke_cli(*args, **env)

    assert done.returncode == 1
    assert done.stdout == ""  # nothing was invoked
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"local.invoke: {says}")


@pytest.mark.parametrize(
    "module",
    ["local.server", "local.invoke", "tools.link_customer", "bench.perf"],
)
def test_help_says_what_the_command_does_and_runs_nothing(module: str) -> None:
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")
    # The description is whole sentences: not a first line cut off mid-sentence.
    description = done.stdout.split("\n\n")[1]
    assert description.rstrip().endswith("."), description
    assert done.stderr == ""
