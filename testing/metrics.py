"""The CloudWatch metrics a handler printed (Embedded Metric Format lines on stdout)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testing.leaks import find_leaks


def metrics_emitted(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF metrics printed so far: name and dimensions (the output is leak-checked here,
    since reading it takes it away from the autouse scan)."""
    out = capfd.readouterr().out
    assert find_leaks([out]) == []
    found = []
    for line in out.splitlines():
        blob = json.loads(line) if line.startswith('{"_aws"') else None
        if blob:
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                dimensions = {d: blob[d] for group in directive["Dimensions"] for d in group}
                found += [{"name": m["Name"], **dimensions} for m in directive["Metrics"]]
    return found
