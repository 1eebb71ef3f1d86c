"""docs/architecture.md stays true: imports point down the layers, the engine stays free
of geometry, no face is imported by the library, no private name crosses packages, and
the module-level import graph has no cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "gridgeo"

LAYERS = [
    {"_errors", "_version"},
    {
        "_validate",
        "_progress",
        "_tables",
        "datasets",
        "engine",
        "crs",
        "codes",
        "blocks",
        "metrics",
        "building_class",
        "reasons",
    },
    {"io", "render", "households", "chains", "datum"},
    {"units", "constraints", "streetfront", "land"},
    {"rules", "staffing", "astride"},
    {"plan", "inputs", "audit"},
    {"workspace", "hierarchy"},
    {"assemble", "adjust"},
    {"pipeline", "publish"},
    {"cli", "service", "workbench", "distributed", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
FACES = {"cli", "service", "workbench", "distributed", "__init__"}
GEOMETRY = {"shapely", "geopandas", "pyproj", "pyogrio", "folium"}


def _top(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0] if len(parts) > 1 else parts[0] if parts[0] != "__init__" else "__init__"


def _imports():
    """(source top-level name, target top-level name, imported names, lazy?, file, line)
    for every relative import of the package; TYPE_CHECKING blocks left out."""
    rows = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        pkg = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        base = pkg[:-1]
        hidden = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        module_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                for name in names:
                    rows.append(
                        (_top(path), "ext:" + name.split(".")[0], [], False, path, node.lineno)
                    )
                continue
            if not isinstance(node, ast.ImportFrom):
                continue
            target = base[: len(base) - node.level + 1] + (
                node.module.split(".") if node.module else []
            )
            names = [a.name for a in node.names]
            tops = [target[1]] if len(target) > 1 else names
            for t in tops:
                rows.append((_top(path), t, names, id(node) not in module_level, path, node.lineno))
    return rows


IMPORTS = _imports()


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT.parent)}:{line}"


def test_every_module_has_a_layer():
    tops = {_top(p) for p in ROOT.rglob("*.py")}
    assert tops - set(LAYER) == set(), "add new modules to LAYERS and docs/architecture.md"


def upward(rows):
    """Imports that point up or sideways (a lazy import may point down only)."""
    return [
        f"{_where(p, n)}: {src} (layer {LAYER[src]}) imports {dst} (layer {LAYER[dst]})"
        for src, dst, _, lazy, p, n in rows
        if dst in LAYER and src != dst and src not in FACES and LAYER[dst] >= LAYER[src]
    ]


def faces_imported(rows):
    return [
        f"{_where(p, n)}: {src} imports the face {dst}"
        for src, dst, _, _, p, n in rows
        if dst in FACES and src not in FACES and dst != "__init__"
    ]


def engine_geometry(rows):
    return [
        f"{_where(p, n)}: engine imports {dst}"
        for src, dst, _, _, p, n in rows
        if src == "engine"
        and (
            dst.removeprefix("ext:") in GEOMETRY
            or (dst in LAYER and dst not in {"_errors", "engine"})
        )
    ]


PACKAGES = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}


def private_across(rows):
    return [
        f"{_where(p, n)}: {src} imports {name} from {dst}"
        for src, dst, names, _, p, n in rows
        if dst in LAYER and dst != src and (src in PACKAGES or dst in PACKAGES)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]


@pytest.mark.parametrize("check", [upward, faces_imported, engine_geometry, private_across])
def test_imports_follow_the_architecture(check):
    assert check(IMPORTS) == []


def test_the_checks_can_fail():
    """Each check catches the import it forbids."""
    here = ROOT / "blocks.py"
    assert upward([("blocks", "pipeline", ["partition"], True, here, 1)])
    assert upward([("units", "constraints", ["x"], False, here, 1)])  # same layer
    assert not upward([("plan", "render", ["grid_map"], True, here, 1)])  # lazy, down
    assert faces_imported([("blocks", "cli", ["main"], True, here, 1)])
    assert engine_geometry([("engine", "ext:shapely", [], False, here, 1)])
    assert engine_geometry([("engine", "blocks", ["x"], False, here, 1)])
    assert private_across([("audit", "adjust", ["_storable"], False, here, 1)])


def test_module_level_imports_have_no_cycle():
    graph = defaultdict(set)
    for src, dst, _, lazy, _, _ in IMPORTS:
        if not lazy and dst in LAYER and dst != src:
            graph[src].add(dst)
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            pytest.fail("import cycle: " + " → ".join([*stack[stack.index(node) :], node]))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        visit(node)
