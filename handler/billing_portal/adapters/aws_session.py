"""The AWS session the function's clients come from: one botocore session (boto3 adds nothing
the function uses, and importing it costs s3transfer too), whose loader reads only the
function's own data (the endpoints and the models of the four calls it makes, in
botocore_data/, written by tools/botocore_data.py) instead of parsing 1.2 MB of endpoints and
listing ~440 service folders on every cold start."""

from __future__ import annotations

import platform
from pathlib import Path

import botocore
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

DATA = Path(__file__).resolve().parent / "botocore_data"
# Every AWS operation the function calls, by service: the data holds these and nothing else.
CALLS = {
    "dynamodb": ("GetItem", "UpdateItem"),
    "secretsmanager": ("GetSecretValue",),
    "ssm": ("GetParameter",),
}


# What every client of the session does on each call, merged under each client's own timeouts
# (budget.py). Two per-call costs the function does not need, ~12% of a warm request's own
# instructions: botocore rebuilds its structured User-Agent (~30 parts, each sanitized) twice
# per call unless it is given one, and checks the parameters, which our own code builds,
# against the model (DynamoDB still refuses a bad request).
PER_CALL = Config(
    user_agent=f"billing-portal botocore/{botocore.__version__} Python/{platform.python_version()}",
    parameter_validation=False,
)


def session() -> botocore.session.Session:
    """A session whose clients read botocore_data/ only (and the full data where it is missing,
    so that a package built without it still works)."""
    core = botocore.session.Session()
    core.set_default_client_config(PER_CALL)
    if DATA.is_dir():
        loader = Loader(extra_search_paths=[str(DATA)], include_default_search_paths=False)
        core.register_component("data_loader", loader)
    return core
