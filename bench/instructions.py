"""Instructions executed, for `bench.perf --instructions` (valgrind's cachegrind, --cache-sim=no).

Wall times on a shared machine move by 10-30% from run to run, enough to flip the sign of a 5%
difference. Instruction counts are the same on every run (to within 0.1%), so they show what a
change saves, and where the work is. On the 3.13 package (or --package), against the same
stand-ins and environment as the rest of bench.perf:

- cold: a cold start phase by phase, each up to its end: the interpreter; the libraries alone
  (every module importing ours loads, ours left out); ours imported, nothing built; ready; the
  first response. The naive shape: ready and first response.
- warm: per warm request (200 more requests in one process, divided by 200): with the upstream
  calls answered in memory (the handler's own work, without the SDKs' calls); against the
  stand-ins over loopback; and the same two exchanges made alone with http.client.

Instructions are not time: memory stalls and the CPU waking after an I/O wait add to wall time.
The phases are bench/child.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import run, table

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 200


class Runner:
    """Runs bench/child.py under cachegrind for its instruction count, or plainly for what it
    prints."""

    def __init__(self, valgrind: str, python: Path, env: dict[str, str]) -> None:
        self.valgrind, self.env = valgrind, env
        self.command = [str(python), str(ROOT / "bench" / "child.py")]

    def instructions(self, *args: str) -> int:
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".cachegrind") as out:
            cachegrind = [
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out.name}",
            ]
            run([self.valgrind, *cachegrind, *self.command, *args], cwd=ROOT, env=self.env,
                capture_output=True)  # fmt: skip
            # The "summary:" line holds the instruction count (Ir) of the whole process.
            lines = Path(out.name).read_text().splitlines()
            return int(next(line for line in lines if line.startswith("summary:")).split()[1])

    def per_request(self, phase: str, app: str) -> float:
        more = self.instructions(phase, app, str(REQUESTS))
        return (more - self.instructions(phase, app, "0")) / REQUESTS

    def last_line(self, *args: str) -> str:
        output = run([*self.command, *args], cwd=ROOT, env=self.env, capture_output=True).stdout
        return output.splitlines()[-1]


def measure(sections: set[str], runtime: Any, env: dict[str, str]) -> None:
    """The cold and warm sections asked for, in instructions, for runtime (perf's 3.13)."""
    import shutil

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return
    # The same dict and set layouts on every run.
    runner = Runner(valgrind, runtime.python, {**env, "PYTHONHASHSEED": "0"})
    if "cold" in sections:
        cold(runner)
    if "warm" in sections:
        warm(runner)


def cold(runner: Runner) -> None:
    print(
        "\n== Cold start, instructions (millions), Python 3.13, Stripe key from SSM (moto); each "
        "phase includes the ones above it"
    )
    runner.env["BENCH_MODULES"] = runner.last_line("modules", "ours", "0")
    phases = [("bare", "interpreter and bench/child.py"), ("libraries", "the libraries imported")]
    phases += [("imports", "and our modules: imported, nothing built")]
    phases += [("ready", "ready (imported and built)"), ("first", "first response")]
    ours = {phase: runner.instructions(phase, "ours", "0") for phase, _ in phases}
    # The naive shape builds as it imports, and its interpreter is ours.
    naive = {phase: runner.instructions(phase, "naive", "0") for phase in ("ready", "first")}
    rows = []
    for phase, label in phases:
        ratio = f"{ours[phase] / naive[phase]:.2f}" if phase in naive else ""
        naive_m = f"{naive[phase] / 1e6:.0f}" if phase in naive else ""
        rows.append([label, f"{ours[phase] / 1e6:.0f}", naive_m, ratio])
    print(table(["phase", "ours", "naive", "ours/naive"], rows))
    total = ours["first"]
    print("   where ours spends them (share of the first response's instructions):")
    steps = [
        ("interpreter", ours["bare"]),
        ("the libraries' imports", ours["libraries"] - ours["bare"]),
        ("our modules (pydantic models built)", ours["imports"] - ours["libraries"]),
        ("build (settings, botocore session, DynamoDB client)", ours["ready"] - ours["imports"]),
        ("first request (key from SSM, Stripe client, two calls)", total - ours["ready"]),
    ]
    for name, count in steps:
        print(f"   - {name}: {count / 1e6:.0f} M ({count / total:.0%})")


def warm(runner: Runner) -> None:
    alone = runner.per_request("alone", "ours")
    print(
        f"\n== Warm request, instructions (mean of {REQUESTS}): upstream calls answered in memory "
        "(the handler's own work), real calls to the stand-ins over loopback, and those less "
        f"the same two exchanges made alone with http.client ({alone / 1e3:.0f} k)"
    )
    rows = []
    for app in ("ours", "naive"):
        memory, wire = runner.per_request("memory", app), runner.per_request("wire", app)
        rows.append(
            [app, f"{memory / 1e3:.0f} k", f"{wire / 1e3:.0f} k", f"{(wire - alone) / 1e3:.0f} k"]
        )
    print(table(["app", "in memory", "real calls", "real calls less alone"], rows))
