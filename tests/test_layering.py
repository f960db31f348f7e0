"""The import rule (docs/architecture.md, "Import rule"): ``hw/`` and ``boards/`` import
neither ``sim/`` nor ``sw/``.

Every ``.py`` file under ``hw/`` and ``boards/`` is parsed (``ast``, nothing is imported)
and every import in it is checked: module-level ones and the lazy ones inside functions,
``import x``, ``from x import y`` and ``importlib.import_module("x")`` / ``__import__("x")``
with a constant name.  The one documented exception is the build entry point ``hw/build.py``
(``python -m hw.build`` reports golden accuracy, so it reaches the verification stage):
it may import exactly the modules in :data:`BUILD_ALLOWED`, and only inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("hw", "boards")
FORBIDDEN = ("sim", "sw")

BUILD_ALLOWED: frozenset[str] = frozenset({
    "sim.golden",        # run_golden, prepare_input: golden accuracy of the built artifact
    "sim.sc.fixed",      # run_sc_fixed: the SC engine's spikes, for its cycle figures
    "sim.verify",        # apply_weight_bits, choose_weight_bits, parse_weight_bits
    "sw.export.nir",     # from_nir: NIR graphs as build input
    "sw.training.data",  # load_digits_data: the samples the golden accuracy is measured on
})
"""Lazy upward imports ``hw/build.py`` may make (the documented exception, exact names)."""

ALLOW: dict[str, frozenset[str]] = {"hw/build.py": BUILD_ALLOWED}


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def imports_of(tree: ast.AST) -> list[tuple[str, tuple[str, ...], int, bool]]:
    """``(module, names, line, inside_function)`` for every absolute import in ``tree``.

    ``names`` are the names a ``from module import ...`` binds (empty for ``import``
    and ``import_module``); relative imports stay inside their package and are skipped.
    """
    found: list[tuple[str, tuple[str, ...], int, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_func = True
        if isinstance(node, ast.Import):
            found.extend((a.name, (), node.lineno, in_func) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, tuple(a.name for a in node.names), node.lineno, in_func))
        elif isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) \
                    and isinstance(arg.value, str):
                found.append((arg.value, (), node.lineno, in_func))
        for child in ast.iter_child_nodes(node):
            visit(child, in_func)

    visit(tree, False)
    return found


def violations(path: Path, rel: str) -> list[str]:
    """One line per import of ``sim``/``sw`` in ``path`` that the rule does not allow."""
    allowed = ALLOW.get(rel, frozenset())
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = []
    for module, names, line, in_func in imports_of(tree):
        if _top(module) not in FORBIDDEN:
            continue
        # ``from sim import golden`` imports the module ``sim.golden``: allowed when listed.
        if in_func and (module in allowed
                        or (names and all(f"{module}.{n}" in allowed for n in names))):
            continue
        where = "inside a function" if in_func else "at module level"
        bad.append(f"{rel}:{line}: imports {module} ({where})")
    return bad


def checked_files() -> list[Path]:
    files = sorted(p for d in CHECKED for p in (ROOT / d).rglob("*.py"))
    assert files, f"no .py files found under {CHECKED} in {ROOT}"
    return files


def test_hw_and_boards_import_neither_sim_nor_sw():
    bad = [v for p in checked_files() for v in violations(p, p.relative_to(ROOT).as_posix())]
    assert not bad, ("hw/ and boards/ must not import sim/ or sw/ "
                     "(docs/architecture.md, Import rule):\n  " + "\n  ".join(bad))


def test_the_build_allow_list_is_still_needed():
    """Every allowed name is still imported by ``hw/build.py`` (a stale entry is removed)."""
    tree = ast.parse((ROOT / "hw" / "build.py").read_text(encoding="utf-8"))
    used = {m for m, names, _, _ in imports_of(tree)} | {
        f"{m}.{n}" for m, names, _, _ in imports_of(tree) for n in names}
    assert BUILD_ALLOWED <= used, f"no longer imported by hw/build.py: {sorted(BUILD_ALLOWED - used)}"


@pytest.mark.parametrize("source, rel, ok", [
    ("import sim.golden\n", "hw/x.py", False),
    ("from sw.training.equations import CELL_EQUATIONS\n", "hw/x.py", False),
    ("def f():\n    from sim.sc.sng import LFSR\n", "hw/cores/x.py", False),
    ("def f():\n    import importlib\n    importlib.import_module('sw.export')\n", "boards/x.py", False),
    ("import simulation, swig, hw.fixed\nfrom . import sim\n", "hw/x.py", True),
    ("def f():\n    from sim.golden import run_golden\n", "hw/build.py", True),
    ("def f():\n    from sim import golden\n", "hw/build.py", True),
    ("from sim.golden import run_golden\n", "hw/build.py", False),          # module level
    ("def f():\n    from sim.tb import runner\n", "hw/build.py", False),    # not listed
    ("def f():\n    from sim.golden import run_golden\n", "hw/cores/x.py", False),
])
def test_the_checker_sees_each_kind_of_import(tmp_path, source, rel, ok):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert (violations(path, rel) == []) is ok
