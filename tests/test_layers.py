"""The package layering docs/ARCHITECTURE.md draws, checked on the source: lower layers never import a
system package (localizer/, avff/), train/ imports neither, and the packages import one another
without a cycle (every import counts, including the ones inside functions)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vocalens"
SYSTEMS = {"localizer", "avff"}
LOWER = {
    "constants",
    "errors",
    "fileio",
    "media",
    "data",
    "encoders",
    "eval",
    "viz",
    "train",
    "datagen",
    "sync",
    "assets",
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        src = _package(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "vocalens"]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "vocalens" and len(parts) > 1 and parts[1] != src:
                    graph[src].add(parts[1])
    return graph


def test_lower_layers_import_no_system():
    graph = package_graph()
    bad = {p: sorted(graph[p] & SYSTEMS) for p in LOWER if graph[p] & SYSTEMS}
    assert not bad, f"lower layers importing a system package: {bad}"


def test_the_systems_do_not_import_each_other():
    graph = package_graph()
    assert "avff" not in graph["localizer"] and "localizer" not in graph["avff"]


def test_no_cycle_between_packages():
    graph = package_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("package cycle: " + " -> ".join(trail[trail.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_architecture_doc_lists_every_module():
    import re

    doc = (SRC.parents[1] / "docs" / "ARCHITECTURE.md").read_text()
    layout = doc.split("## Layout", 1)[1].split("```")[1]
    listed = set(re.findall(r"^  ([a-z_/]+\.py)\s", layout, flags=re.M))
    modules = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert modules - listed == set(), "modules missing from docs/ARCHITECTURE.md"
    assert {p for p in listed if not (SRC / p).is_file()} == set(), "docs/ARCHITECTURE.md lists modules that are gone"
