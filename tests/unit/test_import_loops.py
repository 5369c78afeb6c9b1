"""No import loop inside ``service/``: the module graph, read from the import statements with ``ast``, is acyclic.

An edge A -> B means A imports B, anywhere in A (imports inside functions count: they are loops that only
bite later). ``from P import x`` is an edge to ``P.x`` when ``x`` is a module, else to ``P``. Importing
``P.x`` is not counted as importing the package ``P`` itself: a package's ``__init__`` that imports its own
submodules is the normal shape, while a submodule that takes names from its package's ``__init__`` (as
``cli/rules.py`` once did from ``cli/__init__.py``) is a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``root/package``."""
    found = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                edges.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {edge for edge in edges if edge in modules and edge != name} | ({name} & edges)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_there_is_no_import_loop_in_the_service_package():
    graph = import_graph(ROOT, "service")
    assert len(graph) > 40 and graph["service.cli"], "the walker sees the package"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_walker_finds_a_loop_through_an_import_inside_a_function(tmp_path):
    """The shape of the loop the CLI once had: the package imports a submodule that imports the package."""
    package = tmp_path / "pkg"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("from pkg.cli import rules\n\ndef parse_time(): ...\n")
    (package / "cli" / "rules.py").write_text("def diff():\n    from pkg.cli import parse_time\n")
    (package / "cli" / "check.py").write_text("from . import rules\nfrom .rules import diff\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.cli.check"] == {"pkg.cli.rules"}
    assert find_cycle(graph) == ["pkg.cli", "pkg.cli.rules", "pkg.cli"]
    (package / "cli" / "rules.py").write_text("def diff():\n    from pkg.cli.common import parse_time\n")
    (package / "cli" / "common.py").write_text("def parse_time(): ...\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None
