"""Arrows point down: the engine never imports a face or its library, faces never touch storage."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.extend([(str(path.relative_to(ROOT)), node.module)])
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_engine_imports_no_face_and_no_face_library() -> None:
    bad = [
        (where, module)
        for where, module in _imports("certctl_engine")
        if _top(module) in {"textual", "mcp", "certctl_tui", "certctl_mcp"} and not where.endswith("cli.py")
    ]
    assert bad == []


def test_cli_imports_faces_only_lazily() -> None:
    tree = ast.parse((ROOT / "certctl_engine" / "cli.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [n.module if isinstance(n, ast.ImportFrom) else n.names[0].name for n in top_level]
    assert not [m for m in modules if m and _top(m) in {"textual", "mcp", "certctl_tui", "certctl_mcp"}]


def test_faces_never_touch_storage() -> None:
    bad = [
        (where, module)
        for package in ("certctl_tui", "certctl_mcp")
        for where, module in _imports(package)
        if _top(module) in {"peewee", "playhouse"} or module.startswith("certctl_engine.store")
    ]
    assert bad == []


def test_importing_the_engine_loads_neither_textual_nor_mcp() -> None:
    code = (
        "import sys, certctl_engine.engine, certctl_engine.cli, certctl_engine.demo;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'mcp')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
