"""The house rules that keep the package's shape: thin faces over :mod:`mmir.api`, a small top level.

Read with ``ast`` (nothing is imported): every import of a face counts, those inside functions included; imports
under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmir

SRC = Path(mmir.__file__).parent

# What a face (the CLI, the server) must not reach into: the catalog and vector stores, the search internals, the
# indexing pipeline, training, and the API's own helpers. It goes through mmir.api (which re-exports the query
# types and IndexOptions), mmir.types, mmir.errors, mmir.media and mmir.concepts.
INTERNAL_PACKAGES = ("mmir.index", "mmir.indexing", "mmir.search", "mmir.learn", "mmir.collection", "mmir.executors")
# Attributes that hand a face the storage or the engine behind a Collection (``collection.store.catalog...``).
INTERNAL_ATTRIBUTES = frozenset({"store", "catalog", "engine"})

TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "api.py", "errors.py", "types.py"}

# The CLI's train/eval commands use the training API that mmir.learn's package exports (its submodules stay internal).
CLI_PUBLIC_PACKAGES = frozenset({"import mmir.learn"})


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [f"{node.module}.{alias.name}" for alias in node.names]  # a name or a submodule: either is inside
    return []


def _internal(module: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in INTERNAL_PACKAGES)


def mmir_imports(path: Path) -> set[str]:
    """Every ``mmir`` module or name that ``path`` imports (functions included, ``TYPE_CHECKING`` blocks not)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        found.update(module for module in _imported(node) if module.startswith("mmir."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def reaches(path: Path) -> set[str]:
    """What ``path`` reaches past the public API: internal modules it imports, internal attributes it reads."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        for module in _imported(node):
            if _internal(module):
                found.add(f"import {module.rsplit('.', 1)[0] if isinstance(node, ast.ImportFrom) else module}")
        if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            found.add(f".{node.attr}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _face_reaches(face: str) -> set[tuple[str, str]]:
    return {
        (path.relative_to(SRC).as_posix(), reach)
        for path in sorted((SRC / face).rglob("*.py"))
        for reach in reaches(path)
    }


def test_the_server_uses_only_the_public_api() -> None:
    assert _face_reaches("server") == set()
    allowed = ("mmir.api.", "mmir.types.", "mmir.errors.", "mmir.media.", "mmir.concepts.", "mmir.server.")
    others = {
        (path.relative_to(SRC).as_posix(), module)
        for path in sorted((SRC / "server").rglob("*.py"))
        for module in mmir_imports(path)
        if not (module + ".").startswith(allowed)
    }
    assert others == set()  # nothing but the API, the value types, errors, media decoding and query words


def test_the_cli_uses_only_the_public_api() -> None:
    found = {(file, reach) for file, reach in _face_reaches("cli") if reach not in CLI_PUBLIC_PACKAGES}
    assert found == set()


def test_the_learn_package_exports_what_it_lists() -> None:
    import mmir.learn

    assert sorted(mmir.learn.__all__) == sorted(mmir.learn._EXPORTS)
    for name in mmir.learn.__all__:
        assert getattr(mmir.learn, name) is not None


def test_the_rule_sees_imports_in_functions_and_attribute_chains(tmp_path: Path) -> None:
    face = tmp_path / "face.py"
    face.write_text(
        "from typing import TYPE_CHECKING\n"
        "from mmir.api import Collection, TextQuery\n"
        "if TYPE_CHECKING:\n    from mmir.search.pipeline import SearchResult\n"
        "def f(collection):\n"
        "    from mmir.index import frames\n"
        "    import mmir.learn.metric\n"
        "    return collection.store.catalog.media_ref(1)\n",
        encoding="utf-8",
    )
    assert reaches(face) == {"import mmir.index", "import mmir.learn.metric", ".store", ".catalog"}


def test_the_top_level_holds_only_api_errors_types_and_packages() -> None:
    loose = sorted(
        path.name
        for path in SRC.iterdir()
        if path.suffix == ".py" and path.name not in TOP_LEVEL_MODULES
    )
    assert loose == []
    folders = [path for path in SRC.iterdir() if path.is_dir() and path.name != "__pycache__"]
    assert folders and all((folder / "__init__.py").exists() for folder in folders), "every folder is a package"


def test_the_product_holds_no_test_switches() -> None:
    """No ``MMIR_TEST_*`` environment switch, no ``*_for_test`` hook: a test injects its failure itself."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("MMIR_TEST"):
                found.append(f"{path.relative_to(SRC)}: {node.value}")
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and "for_test" in node.name.lower():
                found.append(f"{path.relative_to(SRC)}: {node.name}")
    assert found == []


def test_the_api_exports_what_it_lists() -> None:
    import mmir.api

    assert [name for name in mmir.api.__all__ if not hasattr(mmir.api, name)] == []
    assert {"Collection", "TextQuery", "IndexOptions", "DEFAULT_COLLECTION", "DEFAULT_K"} <= set(mmir.api.__all__)


def _literal_defaults(path: Path) -> list[str]:
    """Parameters of ``path``'s functions whose default spells a shared default out instead of naming it."""
    shared = {".mmir", "efficientnet-lite0", "127.0.0.1"}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        defaults = [*[None] * (len(node.args.posonlyargs) + len(node.args.args) - len(node.args.defaults)),
                    *node.args.defaults, *node.args.kw_defaults]  # fmt: skip
        for arg, default in zip(args, defaults, strict=True):
            if isinstance(default, ast.Call) and default.args:  # Path(".mmir")
                default = default.args[0]
            value = default.value if isinstance(default, ast.Constant) else None
            counted = arg.arg in ("k", "port") and isinstance(value, int) and not isinstance(value, bool)
            if counted or (isinstance(value, str) and value in shared):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}({arg.arg}={value!r})")
    return found


def test_defaults_are_defined_once() -> None:
    """The collection folder, the model, ``k``, host and port are named (mmir.types), never spelled out again."""
    assert [line for path in sorted(SRC.rglob("*.py")) for line in _literal_defaults(path)] == []
