"""Writes the function's own botocore data: only the endpoints and the models of the calls it
makes, from the botocore installed here (the one uv.lock pins and the tests run).

    python3 uvw.py run python -m tools.botocore_data          # after a botocore upgrade in uv.lock

botocore ships models for ~440 services (endpoints.json alone is 1.2 MB); building one client
parses the whole endpoints file and the service's full model, and lists every service folder
twice. The function calls four operations, so its package carries only those (a few KB) and its
AWS session reads nothing else (billing_portal/adapters/aws_session.py). tests/test_botocore_data.py
fails when these files differ from what this writes, and checks that each call still builds and
signs the same request and resolves the same endpoints as with botocore's full data.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import botocore

from billing_portal.adapters.aws_session import CALLS, DATA

BOTOCORE = Path(botocore.__file__).parent / "data"
# Read by every client, whatever its service: retries, defaults modes, partitions.
SHARED = ("_retry", "sdk-default-configuration", "partitions")


def read(path: Path) -> Any:
    """A botocore data file, shipped as .json or .json.gz."""
    if path.with_suffix(".json").exists():
        return json.loads(path.with_suffix(".json").read_text())
    with gzip.open(path.with_suffix(".json.gz"), "rt") as file:
        return json.load(file)


def latest(service: str) -> Path:
    return max(
        p
        for p in (BOTOCORE / service).iterdir()
        if (p / "service-2.json.gz").exists() or (p / "service-2.json").exists()
    )


def shapes_reachable(model: dict[str, Any], names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = model["shapes"][name]
        refs = [*shape.get("members", {}).values(), shape.get("member"), shape.get("key")]
        refs.append(shape.get("value"))
        todo += [ref["shape"] for ref in refs if ref]
    return seen


def without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [without_docs(v) for v in value]
    return value


def service_model(service: str, operations: tuple[str, ...]) -> dict[str, Any]:
    """The service's model cut to these operations and the shapes they reach, docs left out."""
    model = read(latest(service) / "service-2")
    kept = {name: model["operations"][name] for name in operations}
    roots = [
        ref["shape"]
        for op in kept.values()
        for ref in (op.get("input"), op.get("output"), *op.get("errors", []))
        if ref
    ]
    shapes = shapes_reachable(model, roots)
    return without_docs(
        {
            **model,
            "operations": kept,
            "shapes": {name: model["shapes"][name] for name in sorted(shapes)},
        }
    )


def endpoints() -> dict[str, Any]:
    """endpoints.json with the partitions' metadata and only our services' entries."""
    data = read(BOTOCORE / "endpoints")
    for partition in data["partitions"]:
        partition["services"] = {
            name: entry for name, entry in partition["services"].items() if name in CALLS
        }
    return data


def files() -> dict[str, Any]:
    """Relative path -> JSON, everything the data folder holds."""
    out: dict[str, Any] = {f"{name}.json": read(BOTOCORE / name) for name in SHARED}
    out["endpoints.json"] = endpoints()
    for service, operations in CALLS.items():
        version = latest(service)
        folder = f"{service}/{version.name}"
        out[f"{folder}/service-2.json"] = service_model(service, operations)
        out[f"{folder}/endpoint-rule-set-1.json"] = read(version / "endpoint-rule-set-1")
        extras = version / "service-2.sdk-extras.json"
        if extras.exists():
            out[f"{folder}/service-2.sdk-extras.json"] = json.loads(extras.read_text())
    return out


def render(value: Any) -> str:
    # Compact: the function parses these on every cold start, and nobody edits them by hand.
    return json.dumps(value, separators=(",", ":"), sort_keys=True) + "\n"


def main() -> int:
    if DATA.exists():
        shutil.rmtree(DATA)
    for relative, value in files().items():
        path = DATA / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(value))
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"{DATA}: botocore {botocore.__version__}, {size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
