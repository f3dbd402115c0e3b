"""The package's layering: every import (module-level or inside a function) runs down the layers, and no two
packages import each other. Read from the source with :mod:`ast`, so it needs nothing installed.

Run ``python tests/test_layering.py`` to print the package-level import graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ecgimn"

#: lower numbers are lower layers; a unit may import its own layer's other units only where listed in SAME_LAYER
LAYERS: dict[str, int] = {
    "ecgimn": 0,
    "constants": 0,
    "errors": 0,
    "provenance": 0,  # root: __version__ and ecgimn.load only
    "io": 1,
    "data": 2,
    "models": 3,
    "inference": 4,
    "viz": 5,  # plots arrays; knows nothing of models or explanations
    "explain": 6,
    "evaluation": 7,
    "training": 8,
    "study": 9,
    "api": 10,
    "export": 10,
    "batch": 10,
    "app": 11,
    "cli": 12,
    "__main__": 13,
}

#: imports that run up a layer on purpose, each with its reason (function-level, never at import time)
ALLOWED_UP: dict[tuple[str, str], str] = {
    (
        "inference.predictor",
        "explain.waves",
    ): "Explanation.beats()/waves(): convenience views of a result on the analysis that explains it",
}

#: the root package's __init__ only forwards ecgimn.load() to the public facade (lazily)
ROOT_FORWARDS = {("ecgimn", "api")}


def _unit(module: str) -> str:
    """``ecgimn.io.readers`` -> ``io``; ``ecgimn`` -> ``ecgimn``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache  # the source does not change during a run: parsed once, not once per test
def imports() -> tuple[tuple[str, str, int], ...]:
    """(importing module, imported ecgimn module, line) for every ecgimn import in the package."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        here = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "ecgimn":  # from ecgimn import api / __version__
                    names = [
                        f"ecgimn.{a.name}"
                        if (SRC / a.name).exists() or (SRC / f"{a.name}.py").exists()
                        else "ecgimn"
                        for a in node.names
                    ]
            else:
                continue
            found += [(here, n, node.lineno) for n in names if n == "ecgimn" or n.startswith("ecgimn.")]
    return tuple(found)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for here, there, _ in imports():
        a, b = _unit(here), _unit(there)
        if a != b:
            graph[a].add(b)
    return graph


def violations() -> list[str]:
    bad = []
    for here, there, line in imports():
        a, b = _unit(here), _unit(there)
        if a == b or (a, b) in ROOT_FORWARDS or b == "ecgimn":  # the root: __version__, imported by any layer
            continue
        short = (here.removeprefix("ecgimn."), there.removeprefix("ecgimn."))
        if LAYERS[b] >= LAYERS[a] and short not in ALLOWED_UP:
            bad.append(f"{here}:{line} imports {there} ({a} is layer {LAYERS[a]}, {b} layer {LAYERS[b]})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every package-level cycle (depth-first search), ignoring the listed upward exceptions."""
    allowed = {(_unit("ecgimn." + a), _unit("ecgimn." + b)) for a, b in ALLOWED_UP} | ROOT_FORWARDS
    edges = {a: {b for b in bs if (a, b) not in allowed} for a, bs in graph.items()}
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_every_unit_has_a_layer():
    units = {_unit(m) for m, _, _ in imports()} | {_unit(m) for _, m, _ in imports()}
    units |= {_unit(_module_name(p)) for p in SRC.rglob("*.py")}
    assert not units - set(LAYERS), f"give these a layer in LAYERS: {sorted(units - set(LAYERS))}"


def test_imports_run_down_the_layers():
    assert violations() == []


def test_no_package_level_cycle():
    assert cycles(package_graph()) == []


def test_the_check_catches_an_upward_import(monkeypatch):
    """The checker itself: a lower layer importing a higher one is reported."""
    monkeypatch.setitem(LAYERS, "training", 1)
    assert any("training" in v for v in violations())


if __name__ == "__main__":
    for unit, deps in sorted(package_graph().items(), key=lambda kv: LAYERS[kv[0]]):
        print(f"{unit:11s} (layer {LAYERS[unit]:2d}) -> {', '.join(sorted(deps, key=LAYERS.get))}")
    problems = violations() + [" -> ".join(c) for c in cycles(package_graph())]
    print("\n".join(problems) or "no upward import, no package-level cycle")
    sys.exit(1 if problems else 0)
