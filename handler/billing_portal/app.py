"""The Lambda entry point (template.yaml: Handler: billing_portal.app.lambda_handler).

Built once per container, at import, from the process environment: everything a request needs
is ready before the first one arrives.
"""

from __future__ import annotations

import os

from billing_portal.factory import build

lambda_handler = build(os.environ)
