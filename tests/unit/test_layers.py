"""The package's layers: imports only point inward (or stay in their own layer), so the domain
never learns about DynamoDB, Stripe or HTTP events, and only the factory wires parts together."""

from __future__ import annotations

import ast
from pathlib import Path

import billing_portal

PACKAGE = Path(billing_portal.__file__).parent
# Inner to outer. A module may import its own layer and the layers before it.
LAYERS = [
    ["errors"],
    ["domain"],
    ["settings", "budget", "observability", "snapstart"],
    ["portal", "readiness"],
    ["adapters"],
    ["web"],
    ["factory"],
    ["app"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    """billing_portal.web.auth -> "web"; billing_portal.errors -> "errors"."""
    return module.split(".")[1]


def imports() -> list[tuple[str, str]]:
    """(importer, imported) for every import of billing_portal's own modules, lazy ones too."""
    edges = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("billing_portal", *path.relative_to(PACKAGE).with_suffix("").parts))
        if module.endswith("__init__"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "billing_portal"
            ):
                targets = [node.module or ""]
                if node.module == "billing_portal":  # from billing_portal import budget
                    targets = [f"billing_portal.{alias.name}" for alias in node.names]
                edges += [(module, target) for target in targets]
    return edges


def test_every_module_belongs_to_a_layer() -> None:
    found = {layer_of(importer) for importer, _ in imports()}

    assert found <= set(RANK), found - set(RANK)


def outward(edges: list[tuple[str, str]]) -> list[str]:
    """The imports that point outward, one line each."""
    return [
        f"{importer} imports {imported}"
        for importer, imported in edges
        if RANK[layer_of(imported)] > RANK[layer_of(importer)]
    ]


def test_imports_only_point_inward() -> None:
    assert outward(imports()) == []


def test_the_checker_sees_an_outward_import() -> None:
    # The domain importing the web edge would be reported; the factory wiring it is fine.
    edges = [
        ("billing_portal.domain.user", "billing_portal.web.auth"),
        ("billing_portal.factory", "billing_portal.web.api"),
    ]

    assert outward(edges) == ["billing_portal.domain.user imports billing_portal.web.auth"]
    # ...and the import scan finds a real one.
    assert ("billing_portal.factory", "billing_portal.web.api") in imports()
