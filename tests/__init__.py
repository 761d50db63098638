"""The suite. powertools' Logger, Metrics and Tracer read POWERTOOLS_* when they are created, at
import, as in Lambda: set here, before any test module imports billing_portal."""

import os

from testing.harness import DEMO_SETTINGS

for _name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
    os.environ.setdefault(_name, DEMO_SETTINGS[_name])
