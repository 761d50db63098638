"""The Lambda entry point (template.yaml: Handler: billing_portal.app.lambda_handler).

Built once per container, at import, from the process environment: everything a request needs
is ready before the first one arrives.

Init allocates hundreds of thousands of objects (modules, clients, models) that all live as long
as the container, so the garbage collector's passes over them during init find nothing to free:
it is off until the handler is built, and what init made is then frozen out of later passes.
"""

from __future__ import annotations

import gc

gc.disable()

import os  # noqa: E402 - imported with the collector off, like everything below

from billing_portal.factory import build  # noqa: E402

try:
    lambda_handler = build(os.environ)
finally:
    gc.freeze()
    gc.enable()
