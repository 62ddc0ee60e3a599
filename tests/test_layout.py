"""The shape of geo/: capability packages in layers, no import upward, no circle.

A package may import the top modules (settings, errors, i18n), the packages
below it in ``LAYERS`` and its own modules; nothing may import a package above
it, and no module may come back to itself through its imports, even through
imports inside functions. The source is read, not imported, so imports hidden
in functions count too.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

GEO = Path(__file__).resolve().parents[1] / "geo"

#: Bottom to top; "" is the top modules. geo/__init__.py draws the same line.
LAYERS: tuple[str, ...] = ("", "db", "place", "io", "access", "tickets", "people", "maps", "coverage", "grids",
                           "load", "intake", "screen", "reports", "demo", "web")
TOP_MODULES = frozenset({"settings", "errors", "i18n"})
RANK = {name: i for i, name in enumerate(LAYERS)}


@cache
def modules() -> dict[str, Path]:
    """Dotted name → file, for every module of geo (a package by its __init__)."""
    return {".".join(p.relative_to(GEO.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in GEO.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The geo modules ``name`` imports anywhere in its file (``from geo.x import y``: y if y is a module)."""
    known, found = modules(), set()
    for node in ast.walk(ast.parse(known[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                      for a in node.names}
    return {m for m in found if m in known and m != name and m != "geo"}


@cache
def graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(imports_of(name)) for name in modules()}


def package(module: str) -> str:
    """The package a module belongs to ("" for the top modules and geo itself)."""
    parts = module.split(".")
    return "" if len(parts) < 2 or parts[1] in TOP_MODULES else parts[1]


def upward(deps: dict[str, frozenset[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, ds in deps.items() for b in ds if RANK[package(b)] > RANK[package(a)])


def circle(deps: dict[str, frozenset[str]]) -> list[str] | None:
    """One import circle, as the path around it, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(deps):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_every_module_sits_in_a_package_with_a_layer_and_a_docstring():
    packages = {p.parent.name for p in GEO.glob("*/__init__.py")}
    assert packages == set(LAYERS) - {""}, "a new package needs its place in LAYERS and in geo/__init__.py"
    loose = sorted({p.stem for p in GEO.glob("*.py")} - TOP_MODULES - {"__init__"})
    assert not loose, f"modules outside a package: {loose}"
    for name in packages:
        doc = ast.get_docstring(ast.parse((GEO / name / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert "Holds:" in doc and "May import:" in doc, f"geo/{name}/__init__.py must say what it holds and may import"
    assert " → ".join(LAYERS[1:]) in ast.get_docstring(ast.parse((GEO / "__init__.py").read_text(encoding="utf-8")))


def test_no_package_imports_a_package_above_it():
    assert upward(graph()) == []


def test_no_import_circle():
    assert circle(graph()) is None


def test_the_checks_catch_what_they_are_for():
    """Planted in a copy of the real graph: the store importing the demo is both upward and, with the
    demo importing the store, a circle; the real graph without it has neither."""
    deps = dict(graph())
    assert "geo.db.store" in deps["geo.demo.generator"]
    planted = {**deps, "geo.db.store": deps["geo.db.store"] | {"geo.demo.generator"}}
    assert upward(planted) == ["geo.db.store -> geo.demo.generator"]
    assert circle(planted)[0] == circle(planted)[-1]
    assert circle({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}) == ["a", "b", "c", "a"]
    assert imports_of("geo.maps.area") >= {"geo.maps.layers", "geo.people.households"}  # module and name imports
