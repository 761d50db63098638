"""The AWS session the function's clients come from: one botocore session (boto3 adds nothing
the function uses, and importing it costs s3transfer too), whose loader reads only the
function's own data (the endpoints and the models of the four calls it makes, in
botocore_data/, written by tools/botocore_data.py) instead of parsing 1.2 MB of endpoints and
listing ~440 service folders on every cold start."""

from __future__ import annotations

from pathlib import Path

import botocore.session
from botocore.loaders import Loader

DATA = Path(__file__).resolve().parent / "botocore_data"
# Every AWS operation the function calls, by service: the data holds these and nothing else.
CALLS = {
    "dynamodb": ("GetItem", "UpdateItem"),
    "secretsmanager": ("GetSecretValue",),
    "ssm": ("GetParameter",),
}


def session() -> botocore.session.Session:
    """A session whose clients read botocore_data/ only (and the full data where it is missing,
    so that a package built without it still works)."""
    core = botocore.session.Session()
    if DATA.is_dir():
        loader = Loader(extra_search_paths=[str(DATA)], include_default_search_paths=False)
        core.register_component("data_loader", loader)
    return core
