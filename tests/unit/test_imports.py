"""The project's modules import each other without circles (at module level; an import
inside a function is a deliberate late binding and not counted, nor one under
``if TYPE_CHECKING:``). Relative imports count as the modules they name."""

from __future__ import annotations

import ast
from pathlib import Path

import glupy

ROOT = Path(glupy.__file__).parent


def module_graph() -> dict[str, set[str]]:
    modules = {".".join(("glupy",) + p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = absolute(name, path, node.module, node.level)
                # `from package import submodule` needs the submodule; any other name, the package
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def absolute(importer: str, path: Path, module: str | None, level: int) -> str:
    """The module a ``from`` import names, its dots resolved (``from .errors import X``
    in glupy.gluster.mount is glupy.gluster.errors)."""
    if level == 0:
        return module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[:len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted(component + [v]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    graph = module_graph()
    assert len(graph) > 30 and "glupy.lifecycle" in graph["glupy._runtime"]
    assert cycles(graph) == []


def test_relative_imports_count() -> None:
    graph = module_graph()
    assert "glupy.gluster.errors" in graph["glupy.gluster.mount"]  # from .errors import ...
    assert "glupy.gluster._proc" in graph["glupy.gluster.volume"]  # from . import _proc
    assert "glupy.gluster.mount" in graph["glupy.gluster"]  # from .mount import ..., in __init__


def test_the_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
