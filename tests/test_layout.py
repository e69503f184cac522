"""The shape of the source tree: no import cycles between modules, no oversized module.

The import graph is read from the source with :mod:`ast`, without importing anything.
Every import statement counts, wherever it stands: at module level, inside a function,
or under ``if TYPE_CHECKING:``. ``from package import name`` is an edge to the module
``package.name`` when that is a module of ``src/breathvoice``, else to ``package``.
Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too; those implicit
parent imports are not edges (the packages' ``__init__`` files import only downwards).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "breathvoice"
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that the module ``name`` imports, anywhere in its body."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in known)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: imported(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
        for name, path in found.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_in_functions_and_type_checking_blocks() -> None:
    graph = import_graph()
    # at module level
    assert "breathvoice.engines.kokoro.model" in graph["breathvoice.engines.kokoro.engine"]
    # inside a function
    assert "breathvoice.engines.kokoro.engine" in graph["breathvoice.engines.registry"]
    # under TYPE_CHECKING
    assert "breathvoice.voices.library" in graph["breathvoice.voices.importer"]


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    source = {
        "breathvoice.a": "from breathvoice import b\n",
        "breathvoice.b": "def f():\n    from breathvoice.c import x\n",
        "breathvoice.c": "import breathvoice.a\n",
        "breathvoice.d": "from breathvoice.a import y\n",
    }
    known = set(source) | {"breathvoice"}
    graph = {name: imported(ast.parse(text), name, False, known) for name, text in source.items()}
    assert cycles(graph) == [["breathvoice.a", "breathvoice.b", "breathvoice.c"]]


def test_no_import_cycle_between_modules() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_350_lines(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"
