"""The command lines: local/invoke.py runs every event in events/ through the real handler, a file
that is not an event stops it in one line, and each command's --help says what it does."""

from __future__ import annotations

import os
import runpy
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


def run_command(
    module: str, *args: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.ExceptionInfo[SystemExit]:
    """`python -m <module> <args>` in this process (what `-m` runs: the module as __main__),
    expected to exit before it does any work."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [module, *args])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(module, run_name="__main__")
    return exited


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
            "POWERTOOLS_LOG_LEVEL: 'LOUD' is not a log level; "
            "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:'local.invoke' found in sys.modules:RuntimeWarning")
def test_a_wrong_file_or_log_level_stops_invoke_with_one_plain_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    exited = run_command("local.invoke", *args, monkeypatch=monkeypatch)

    # sys.exit(message): Python prints the message as one line on stderr, exit status 1.
    assert isinstance(exited.value.code, str)
    assert exited.value.code.startswith(f"local.invoke: {says}")
    assert "\n" not in exited.value.code
    assert capsys.readouterr().out == ""  # nothing was invoked


@pytest.mark.parametrize(
    "module",
    ["local.server", "local.invoke", "tools.link_customer", "bench.perf"],
)
@pytest.mark.filterwarnings("ignore:.* found in sys.modules:RuntimeWarning")
def test_help_says_what_the_command_does_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: str
) -> None:
    exited = run_command(module, "--help", monkeypatch=monkeypatch)

    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: ")
    # The description is whole sentences: not a first line cut off mid-sentence.
    description = out.split("\n\n")[1]
    assert description.rstrip().endswith("."), description
    assert err == ""


def test_sam_locals_environment_file_sets_only_declared_variables_and_valid_settings() -> None:
    # sam local invoke --env-vars ignores a variable the template does not declare, silently.
    import json

    from billing_portal.settings import Settings
    from tools.cfn import Stack

    [(function, variables)] = json.loads((EVENTS / "env.json").read_text()).items()
    declared = Stack().environment()

    assert function == "BillingPortalFunction"
    assert set(variables) <= set(declared)
    settings = Settings.from_environ({**variables, "STRIPE_API_KEY_PARAM": ""})
    assert "http://localhost:3000" in settings.allowed_origins
