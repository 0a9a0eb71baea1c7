"""The codebase's own rules, read from its source (ast, nothing imported): short functions, private
names kept private, no import cycle inside a package, stages depending one way, and every
`from lutnas... import name` (lazy ones included, which no linter resolves) naming something real."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lutnas"
MAX_FUNCTION_LINES = 60
# stage -> the lutnas packages it must not import (README "Architecture"; cli.py composes and is imported by none)
FORBIDDEN = {
    "lutnas.lowering": ("lutnas.spaces", "lutnas.profiler", "lutnas.latency_tables", "lutnas.search"),
    "lutnas.profiler": ("lutnas.spaces", "lutnas.latency_tables", "lutnas.search"),
    "lutnas.spaces": ("lutnas.lowering", "lutnas.profiler", "lutnas.latency_tables", "lutnas.search"),
}


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text())


def _type_checking_nodes(module: ast.Module) -> set[int]:
    """Nodes under `if TYPE_CHECKING:` (never executed: they cannot make a runtime cycle)."""
    out: set[int] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def lutnas_imports(name: str, *, runtime_only: bool) -> list[tuple[ast.ImportFrom | ast.Import, str]]:
    """(node, imported module) for every import of a lutnas module in `name`, lazy ones included."""
    skip = _type_checking_nodes(tree(name)) if runtime_only else set()
    out = []
    for node in ast.walk(tree(name)):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lutnas"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((node, sub if sub in modules() else node.module))
        elif isinstance(node, ast.Import):
            out.extend((node, a.name) for a in node.names if a.name.startswith("lutnas"))
    return out


def package_of(name: str) -> str:
    return name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]


def test_no_function_in_lutnas_is_longer_than_the_limit():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name in modules() for node in ast.walk(tree(name))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def test_no_private_name_is_imported_across_modules():
    found = [f"{name}: from {node.module} import {alias.name}"
             for name in modules() for node, _ in lutnas_imports(name, runtime_only=False)
             if isinstance(node, ast.ImportFrom) for alias in node.names if alias.name.startswith("_")]
    assert not found, found


def test_no_import_cycle_inside_a_package():
    edges = {name: {m for _, m in lutnas_imports(name, runtime_only=True)
                    if m in modules() and m != name and package_of(m) == package_of(name)}
             for name in modules()}
    cycles = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in path and nxt > start:   # each cycle once, from its smallest module
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, cycles


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stages_depend_one_way(stage):
    found = [f"{name} imports {m}" for name in modules() if name == stage or name.startswith(stage + ".")
             for _, m in lutnas_imports(name, runtime_only=True) if m.startswith(FORBIDDEN[stage])]
    assert not found, found


def test_nothing_imports_the_cli():
    found = [name for name in modules() for _, m in lutnas_imports(name, runtime_only=False)
             if m == "lutnas.cli" and name != "lutnas.__main__"]
    assert not found, found


def _defined(name: str) -> set[str]:
    """Top-level names a module binds (definitions, assignments, imports) and its submodules."""
    out = {n for n in modules() if n.rpartition(".")[0] == name and n != name}
    out = {n.rpartition(".")[2] for n in out}
    for node in tree(name).body:
        stmts = [node, *(node.body + node.orelse if isinstance(node, (ast.If, ast.Try)) else [])]
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(stmt.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                out.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                out.update((a.asname or a.name).split(".")[0] for a in stmt.names)
            elif isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name):
                out.add(stmt.target.id)
    return out


def test_every_lutnas_import_names_something_that_exists():
    """Lazy imports inside functions are how lutnas keeps `import` cheap; a name moved to another
    module breaks them only when that function runs. Each one must name a module or a top-level
    binding of the module it imports from."""
    missing = [f"{name}: from {node.module} import {alias.name}"
               for name in modules() for node, _ in lutnas_imports(name, runtime_only=False)
               if isinstance(node, ast.ImportFrom) for alias in node.names
               if node.module not in modules() or alias.name not in _defined(node.module)]
    assert not missing, missing
