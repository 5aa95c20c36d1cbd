"""The package's import graph: layers only import downward, no import hides inside a function, no cycle,
and no module grows past what a reader can hold (about 350 lines)."""

import ast
from pathlib import Path

import pytest

from mtlkit import LAYERS

PACKAGE = Path(__file__).resolve().parents[1] / "mtlkit"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    assert top in LAYERS, f"{module} has no layer in mtlkit.LAYERS"
    return LAYERS[top]


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """Every ``mtlkit`` module imported, and whether the import sits inside a function."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("mtlkit"):
                for alias in child.names:  # `from mtlkit.studies import landscape` imports a module
                    sub = f"{child.module}.{alias.name}"
                    found.append(
                        (
                            sub
                            if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                            else child.module,
                            inner,
                        )
                    )
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names if a.name.startswith("mtlkit"))
            visit(child, inner)

    visit(tree, False)
    return found


GRAPH = {_name(p): _imports(ast.parse(p.read_text(encoding="utf-8"))) for p in MODULES}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_only_go_down_and_never_hide_in_functions(module):
    if module == "mtlkit":
        assert not GRAPH[module], "the package's __init__ imports nothing"
        return
    for target, in_function in GRAPH[module]:
        assert not in_function, f"{module} imports {target} inside a function"
        if target == "mtlkit":
            continue
        assert _layer(target) <= _layer(module), (
            f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        )


def test_no_import_cycle():
    edges = {m: {t for t, _ in GRAPH[m] if t in GRAPH and t != m} for m in GRAPH}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in edges[m]:
            assert state.get(t) != 1, f"import cycle: {' -> '.join([*path, m, t])}"
            if t not in state:
                visit(t, [*path, m])
        state[m] = 2

    for m in edges:
        if m not in state:
            visit(m, [])


def test_a_higher_import_would_be_caught():
    tree = ast.parse("def f():\n    from mtlkit.study import start\nfrom mtlkit.studies import landscape\n")
    assert _imports(tree) == [("mtlkit.study", True), ("mtlkit.studies.landscape", False)]
    assert _layer("mtlkit.study") > _layer("mtlkit.train")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 360, f"{_name(path)} has {lines} lines: split it"
