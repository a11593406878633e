"""The architecture as a test: no import cycles, layers respected, every module importable.

The graph is read from the source (AST), so a cycle hidden behind a function-local
import or a module ``__getattr__`` is still a cycle here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "services")

LAYERS = {
    "shared.timing": set(),
    "shared.contract": {"shared.timing"},
    "shared.runtime": {"shared.timing", "shared.contract"},
    "shared.config": {"shared.timing", "shared.contract", "shared.runtime"},
    "shared.reports": {"shared.timing", "shared.contract", "shared.runtime", "shared.config"},
}
"""What each layer of ``shared`` may import besides itself (see ``shared/__init__.py``)."""
SERVICES = ("scheduler", "executor", "reporter", "api")
COMPOSITION_ROOT = "services.cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int, bool]]:
    """(imported internal module, line, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        for target in targets:
            if target in known and target != name:
                yield target, node.lineno, id(node) in top_level


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {n: {t for t, _, _ in _imports(n, p, known)} for n, p in modules.items()}


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo += graph.get(v, ())
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others."""
    reach = {v: _reach(graph, v) for v in graph}
    groups = {
        frozenset([v, *(w for w in reach[v] if v in reach[w])]) for v in graph if v in reach[v]
    }
    return sorted(sorted(g) for g in groups)


def _is_package_init(name: str, target: str) -> bool:
    # ``import shared.timing.triggers.base`` also runs the package __init__s above it.
    return name.startswith(target + ".")


def test_no_import_cycles() -> None:
    graph = {n: {t for t in ts if not _is_package_init(n, t)} for n, ts in _graph().items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_local_imports_of_our_own_modules() -> None:
    modules = _modules()
    known = set(modules)
    local = [
        f"{name}:{line} imports {target}"
        for name, path in modules.items()
        for target, line, top in _imports(name, path, known)
        if not top and not _in_type_checking(path, line)
    ]
    assert local == []


def _in_type_checking(path: Path, line: int) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                return True
    return False


def _layer(module: str) -> str | None:
    return next((layer for layer in LAYERS if module.startswith(layer)), None)


def test_shared_layers_import_only_what_is_below_them() -> None:
    wrong = []
    for name, targets in _graph().items():
        layer = _layer(name)
        if not name.startswith("shared"):
            continue
        for target in targets:
            if target.startswith("services"):
                wrong.append(f"{name} imports the service module {target}")
            elif layer and target != "shared" and _layer(target) not in {layer, *LAYERS[layer]}:
                wrong.append(f"{name} ({layer}) imports {target}")
    assert wrong == []


def test_services_never_import_each_other() -> None:
    wrong = []
    for name, targets in _graph().items():
        own = next((s for s in SERVICES if name.startswith(f"services.{s}")), None)
        if own is None:
            continue
        wrong += [
            f"{name} imports {t}"
            for t in targets
            if t.startswith("services.") and not t.startswith(f"services.{own}")
        ]
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_on_its_own(package: str) -> None:
    """Each module imported first, in a fresh module table: an import-order cycle fails."""
    names = sorted(n for n in _modules() if n.split(".")[0] == package)
    program = (
        "import importlib, sys\n"
        f"names = {names!r}\n"
        "for n in names:\n"
        "    for m in [m for m in sys.modules if m.split('.')[0] in ('shared', 'services')]:\n"
        "        del sys.modules[m]\n"
        "    importlib.import_module(n)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
