"""The size rules a newcomer can rely on: no module in streams/ or state/ over 400 lines,
no function anywhere in the package over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ("streams", "state", "models", "bench")


def _modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("streams", "state"), ids=lambda p: p.name)
def test_modules_stay_small(path):
    assert path.read_text().count("\n") <= 400, f"{path.relative_to(ROOT)}: split it"


def test_functions_stay_short():
    long = []
    for path in _modules(*PACKAGE):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, long
