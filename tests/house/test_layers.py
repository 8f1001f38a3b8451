"""The house's import rule, checked on the real source: every wing imports only the wings below it
(README, "Layout"), and no module reaches a module that reaches back to it.

Function-level imports count too: a lazy import is still an arrow in the architecture.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cockpit"

# What each wing may import (itself included). The same table is README's layout map. Every wing may
# also import the package itself (`cockpit.__version__`).
ALLOWED = {
    "contract": {"contract"},
    "rundir": {"contract", "diagnostics", "rundir"},  # diagnostics: the one smoothed loss the run's fold keeps
    "data": {"contract", "data"},
    "diagnostics": {"contract", "diagnostics"},
    "notify": {"contract", "notify"},
    "training": {"contract", "rundir", "data", "diagnostics", "notify", "training"},
    "bridge": {"contract", "rundir", "data", "diagnostics", "notify", "training", "bridge"},
    "ui": {"contract", "rundir", "diagnostics", "ui"},
    "cli": {"contract", "rundir", "data", "diagnostics", "notify", "training", "bridge", "ui", "cli"},
}


def module_name(path: Path) -> str:
    parts = ("cockpit", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    where = PACKAGE.parent.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The cockpit modules `path` imports, at any depth (`from a import b` counts as `a.b` when b is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cockpit":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if is_module(sub) else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "cockpit"}
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_module_lives_in_a_wing() -> None:
    loose = [m for m in import_graph() if wing(m) is None and m not in ("cockpit", "cockpit.__main__")]
    assert not loose, f"modules outside the wings: {loose}"
    assert set(filter(None, map(wing, import_graph()))) == set(ALLOWED)


def test_no_wing_imports_a_wing_above_it() -> None:
    wrong = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if wing(module) in ALLOWED and target != "cockpit" and wing(target) not in ALLOWED[wing(module)]
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_circles() -> None:
    graph = import_graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target.startswith(module + "."):  # a package importing its own submodules is no circle
                continue
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_no_private_name_is_imported_from_another_module() -> None:
    crossing = [
        f"{module_name(path)} imports {alias.name} from {node.module}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cockpit")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not crossing, "\n".join(crossing)
