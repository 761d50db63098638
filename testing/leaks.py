"""The leak scan every test gets (tests/conftest.py): what a test printed or logged, searched for
secrets and personal data. The contract allows none of these in a log line or an error body."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator

import pytest

from testing.harness import DEMO_SETTINGS, EVENTS


def _event_credentials() -> set[str]:
    """Authorization and Cookie values in events/*.json, and the tokens inside them."""
    found: set[str] = set()
    for path in EVENTS.glob("*.json"):
        data = json.loads(path.read_text())
        values = [v for k, v in data.get("headers", {}).items() if k in ("authorization", "cookie")]
        for value in [*values, *data.get("cookies", [])]:
            found.update({value, value.split(" ", 1)[-1], value.split("=", 1)[-1]})
    return {value for value in found if len(value) >= 16}


LEAKS = {
    "a Stripe secret key": re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]+"),
    "a portal session URL": re.compile(r"/p/session/"),
    # Any address but the one in the stripe SDK's own connection-error message.
    "an email address": re.compile(
        r"(?<![\w.%+-])(?!support@stripe\.com)[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    ),
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    "a bearer token": re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{20,}"),
}
if _event_credentials():
    LEAKS["a credential from events/"] = re.compile("|".join(map(re.escape, _event_credentials())))


def find_leaks(texts: Iterable[str]) -> list[str]:
    """What leaked, one line each (the match cut short, so the report leaks no more)."""
    return [
        f"{what}: {match.group(0)[:12]}..."
        for text in texts
        for what, pattern in LEAKS.items()
        for match in pattern.finditer(text)
    ]


def _record_texts(records: Iterable[logging.LogRecord]) -> Iterator[str]:
    for record in records:
        yield record.getMessage()
        yield repr(vars(record))  # extra keys and the raw args
        if record.exc_info:
            yield logging.Formatter().formatException(record.exc_info)


def check_no_leaks(out: str, err: str, records: Iterable[logging.LogRecord]) -> None:
    leaks = find_leaks([out, err, *_record_texts(records)])
    if leaks:
        pytest.fail("secrets or personal data in the output:\n" + "\n".join(leaks))


class _CurrentStdout:
    """Writes to whatever sys.stdout is now. pytest swaps sys.stdout for each test's capture,
    while powertools' Logger keeps the stream it was created with (a closed one, later)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def service_logs_to_current_stdout() -> None:
    """Point the service's log handlers at the current test's captured stdout, to be scanned."""
    for handler in logging.getLogger(DEMO_SETTINGS["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _CurrentStdout()
