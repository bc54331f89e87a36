"""No import cycles anywhere in mmir: an import of a package counts as one of its ``__init__``.

Imports are read with ``ast``, those inside functions included (a cycle hidden in a function still couples the
modules and breaks once someone moves the import up); imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmir

SRC = Path(mmir.__file__).parent


def _module_name(path: Path, root: Path = SRC.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` imports anywhere (functions included, TYPE_CHECKING blocks not)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # "from mmir.search import scales" imports the module mmir.search.scales
                if f"{node.module}.{alias.name}" in known:
                    found.add(f"{node.module}.{alias.name}")
                elif node.module in known:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself), Tarjan's way."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
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
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _graph(paths: list[Path], root: Path = SRC.parent) -> dict[str, set[str]]:
    names = {_module_name(path, root): path for path in paths}
    # A package's __init__ that imports its own submodules ("from mmir.cli import commands") imports those, not
    # itself: the self-edge is kept only when the module really names itself.
    return {name: _imports(path, set(names)) for name, path in names.items()}


def test_no_import_cycles_in_search() -> None:
    graph = _graph(sorted((SRC / "search").glob("*.py")))
    assert "mmir.search.pipeline" in graph and graph["mmir.search.engine"]  # the reader sees the imports
    assert _cycles(graph) == []


def test_no_import_cycles_between_the_api_and_its_helpers() -> None:
    paths = [SRC / "api.py", *sorted((SRC / "collection").glob("*.py")), *sorted((SRC / "search").glob("*.py"))]
    graph = _graph(paths)
    assert "mmir.collection.channels" in graph and "mmir.search.pipeline" in graph["mmir.api"]
    assert _cycles(graph) == []


def test_no_import_cycles_in_the_whole_package() -> None:
    graph = _graph(sorted(SRC.rglob("*.py")))
    assert len(graph) > 150 and "mmir.models.efficientnet" in graph["mmir.models.factory"]  # it reads them all
    assert _cycles(graph) == []


def test_a_package_importing_its_own_submodules_is_no_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def main():\n    from pkg import sub\n", encoding="utf-8")
    (package / "sub.py").write_text("X = 1\n", encoding="utf-8")
    (package / "loop.py").write_text("from pkg import loop\n", encoding="utf-8")
    graph = _graph(sorted(package.glob("*.py")), root=tmp_path)
    assert graph == {"pkg": {"pkg.sub"}, "pkg.sub": set(), "pkg.loop": {"pkg.loop"}}
    assert _cycles(graph) == [["pkg.loop"]]


def test_the_cycle_finder_sees_imports_inside_functions(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    import b\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nimport a\nif TYPE_CHECKING:\n    import c\n")
    (tmp_path / "c.py").write_text("import b\n", encoding="utf-8")
    known = {"a", "b", "c"}
    graph = {name: _imports(tmp_path / f"{name}.py", known) for name in known}
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"b"}}
    assert _cycles(graph) == [["a", "b"]]
