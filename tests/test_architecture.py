"""The house rules of the layout, read from the source with `ast` (nothing is imported):
no import circle between modules, dependencies point inward (core knows no ml, telegram,
aiosqlite or bot; db knows no bot, ml or telegram; only core/exchange imports ccxt), no
module of bot/ core/ ml/ db/ webapp/ over 400 lines and no function or method in them over 60
(`end_lineno - lineno + 1` of the def, decorators not counted; nested functions count on their own
and inside their parent).

A circle is counted on module-level imports, those under `if TYPE_CHECKING:` included (a
circle through a type-only import is still a circle a reader has to untangle, and mypy
follows it); an import inside a function is not, since it runs after both modules are
loaded. `from x import y` is an edge to x, and to x.y as well when x.y is a module. The
direction rules look at every import, inside functions too (a late import is a dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "core", "ml", "db", "webapp")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
FORBIDDEN = {  # package -> top-level names it must not import
    "core": ("ml", "telegram", "aiosqlite", "bot"),
    "db": ("bot", "ml", "telegram"),
}
CCXT_HOME = "core.exchange"
# Inside core, a package may import only from a lower layer (or from itself): the kernel at
# the bottom, the rules both signals and trading use just above it, backtest at the top.
CORE_LAYERS = {
    "core": 0,
    "core.rules": 1,
    "core.risk": 1,
    "core.signals": 2,
    "core.exchange": 2,
    "core.trading": 3,
    "core.backtest": 4,
}


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    is_package: bool


def load_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    """Every .py file under `root/<package>`, parsed, by dotted module name."""
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            text = path.read_text(encoding="utf-8")
            modules[name] = Module(name, path, ast.parse(text, str(path)), len(text.splitlines()), is_package)
    return modules


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    base = base if module.is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(module: Module, node: ast.Import | ast.ImportFrom, known: Mapping[str, Module]) -> Iterator[str]:
    """The dotted names an import statement loads: `import a.b` -> a.b; `from a import b` ->
    a, and a.b when a.b is one of `known`."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    source = _absolute(module, node)
    yield source
    for alias in node.names:
        if f"{source}.{alias.name}" in known:
            yield f"{source}.{alias.name}"


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module loads: its body and the blocks in it (if/try/with), not
    functions or classes."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.With | ast.For | ast.While):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse if not isinstance(node, ast.With) else [])
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)


def import_graph(modules: Mapping[str, Module]) -> dict[str, set[str]]:
    """Module -> the project modules it imports at load time."""
    graph: dict[str, set[str]] = {}
    for name, module in modules.items():
        targets = {
            target
            for node in _module_level(module.tree.body)
            for target in imported_names(module, node, modules)
            if target in modules and target != name
        }
        graph[name] = targets
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module, sorted (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def every_import(modules: Mapping[str, Module]) -> Iterator[tuple[str, str]]:
    """(module, imported dotted name) for every import anywhere in every module."""
    for name, module in modules.items():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in imported_names(module, node, modules):
                    yield name, target


def direction_violations(modules: Mapping[str, Module]) -> list[str]:
    found = []
    for name, target in every_import(modules):
        top = target.split(".")[0]
        for package, forbidden in FORBIDDEN.items():
            if name.split(".")[0] == package and top in forbidden:
                found.append(f"{name} imports {target}")
        if top == "ccxt" and not (name == CCXT_HOME or name.startswith(CCXT_HOME + ".")):
            found.append(f"{name} imports {target} (only {CCXT_HOME} may)")
    return sorted(set(found))


def _core_package(name: str) -> str:
    """core.rules.stops -> core.rules; core.models (a kernel module) -> core."""
    package = ".".join(name.split(".")[:2])
    return package if package in CORE_LAYERS else "core"


def layer_violations(modules: Mapping[str, Module]) -> list[str]:
    """Imports inside core that reach a package of the same or a higher layer."""
    found = []
    for name, target in every_import(modules):
        if not (name.startswith("core.") and target.split(".")[0] == "core" and target in modules):
            continue
        source, reached = _core_package(name), _core_package(target)
        if source != reached and CORE_LAYERS.get(reached, 0) >= CORE_LAYERS.get(source, 0):
            found.append(f"{name} imports {target} ({source} may not reach {reached})")
    return sorted(set(found))


def oversized(modules: Mapping[str, Module], limit: int = MAX_MODULE_LINES) -> list[str]:
    return sorted(f"{m.path.relative_to(ROOT)} ({m.lines})" for m in modules.values() if m.lines > limit)


def long_functions(modules: Mapping[str, Module], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method (async too, nested too) longer than `limit` lines."""
    return sorted(
        f"{m.name}:{node.lineno} {node.name} ({(node.end_lineno or node.lineno) - node.lineno + 1})"
        for m in modules.values()
        for node in ast.walk(m.tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > limit
    )


MODULES = load_modules(ROOT)
# Modules still over the limit are being split on another branch (issue 13): bot/delivery.py
# (per-chat pacing). The reason names whatever is left; remove the mark when it is empty.


def test_no_import_circle() -> None:
    assert circles(import_graph(MODULES)) == []


def test_core_packages_import_only_lower_layers() -> None:
    assert layer_violations(MODULES) == []


def test_dependencies_point_inward() -> None:
    # core's backtest CLI takes its models from python -m ml.backtest (a loader passed in)
    assert direction_violations(MODULES) == []


def test_no_module_over_400_lines() -> None:
    assert oversized(MODULES) == []


def test_no_function_over_60_lines() -> None:
    assert long_functions(MODULES) == []


def test_every_package_is_read() -> None:
    names = set(MODULES)
    assert {"bot.app", "core.models", "db.database", "ml.registry"} <= names
    assert len(names) > 100


# ---------------------------------------------------------------- the checker itself


def _write(root: Path, files: Mapping[str, str]) -> dict[str, Module]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load_modules(root, ("pkg",))


def test_checker_finds_a_circle_through_a_type_only_import(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": "from pkg import c\n",  # `from x import y` where x.y is a module
            "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import Thing\n",
            "pkg/d.py": "from pkg.a import Thing\n",  # depends on the circle, is not in it
        },
    )
    graph = import_graph(modules)
    assert graph["pkg.b"] == {"pkg", "pkg.c"}
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_checker_finds_a_circle_through_relative_imports(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {"pkg/__init__.py": "", "pkg/sub/__init__.py": "from . import x\n", "pkg/sub/x.py": "from .. import sub\n"},
    )
    assert circles(import_graph(modules)) == [["pkg.sub", "pkg.sub.x"]]


def test_checker_ignores_imports_inside_functions_and_passes_a_tree(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import f\n",
            "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",
            "pkg/c.py": "import pkg.a\nimport pkg.b\n",
        },
    )
    assert circles(import_graph(modules)) == []


def test_checker_flags_wrong_direction_and_size(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "core" / "x.py").write_text("def f():\n    import ml.registry\n    import ccxt\n", encoding="utf-8")
    (tmp_path / "core" / "big.py").write_text("x = 1\n" * 401, encoding="utf-8")
    modules = load_modules(tmp_path, ("core",))
    assert direction_violations(modules) == [
        "core.x imports ccxt (only core.exchange may)",
        "core.x imports ml.registry",
    ]
    assert [m.lines for m in modules.values() if m.lines > MAX_MODULE_LINES] == [401]


def test_checker_flags_an_import_up_the_core_layers(tmp_path: Path) -> None:
    files = {
        "core/__init__.py": "",
        "core/models.py": "",
        "core/rules/__init__.py": "",
        "core/rules/stops.py": "from core.models import X\n",
        "core/signals/__init__.py": "",
        "core/signals/engine.py": "from core.rules.stops import f\nfrom core.signals import filters\n",
        "core/signals/filters.py": "",
        "core/trading/__init__.py": "",
        "core/trading/service.py": "from core.signals.engine import E\n",
        "core/risk/__init__.py": "",
        "core/risk/sizing.py": "from core.trading.service import S\n",  # up: risk is below trading
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    modules = load_modules(tmp_path, ("core",))
    assert layer_violations(modules) == [
        "core.risk.sizing imports core.trading.service (core.risk may not reach core.trading)"
    ]


def test_checker_flags_a_long_function_and_method(tmp_path: Path) -> None:
    body60 = "    x = 1\n" * 59  # with the def line: 60 lines, the limit itself
    body61 = "    x = 1\n" * 60
    method61 = "        x = 1\n" * 60
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": f"def ok():\n{body60}\n\n@decorated\nasync def long():\n{body61}",
            "pkg/b.py": f"class C:\n    def method(self):\n{method61}",
        },
    )
    # a.py: ok is lines 1-60, two blanks, the decorator on 63, long on 64-124; b.py: method on 2-62
    assert long_functions(modules) == ["pkg.a:64 long (61)", "pkg.b:2 method (61)"]
