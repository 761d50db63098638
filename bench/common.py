"""What bench/perf.py and bench/instructions.py both use: run one of the benchmark's commands,
and print rows as a table."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run one of the benchmark's own commands (never user input); fail loudly, with what it
    printed."""
    try:
        return subprocess.run(command, check=True, text=True, **kwargs)  # noqa: S603
    except subprocess.CalledProcessError as error:
        print(error.stdout or "", error.stderr or "", sep="\n", file=sys.stderr)
        raise


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )
