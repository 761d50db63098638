"""What the local tools check before they load the handler, so that a mistake is one line."""

from __future__ import annotations

import logging
from collections.abc import Mapping

# powertools reads its log level from these, the first set one (LOG_LEVEL is its legacy name).
LOG_LEVEL_VARIABLES = ("POWERTOOLS_LOG_LEVEL", "LOG_LEVEL")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level_problem(environ: Mapping[str, str]) -> str | None:
    """Why the log level powertools would read is unusable (it raises at import), or None."""
    for name in LOG_LEVEL_VARIABLES:
        value = environ.get(name)
        if value:
            if value.strip().upper() in logging.getLevelNamesMapping():
                return None
            return f"{name}: {value!r} is not a log level; use one of {', '.join(LEVELS)}"
    return None
