"""No module in src/makegood over 400 lines, no function over 60 (migrations aside)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "makegood"
MODULE_LINES, FUNCTION_LINES = 400, 60


def modules() -> list[Path]:
    return [p for p in sorted(SOURCE.rglob("*.py")) if "migrations" not in p.parts]


def long_functions(path: Path) -> list[str]:
    """``name (n lines)`` for each function of the file longer than FUNCTION_LINES."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{path.name}:{node.name} ({length} lines)")
    return found


def test_the_measure_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions(sample) == [f"sample.py:long ({FUNCTION_LINES + 1} lines)"]


def test_no_module_is_over_400_lines():
    assert len(modules()) > 100
    over = [
        f"{p.relative_to(SOURCE)} ({n} lines)"
        for p in modules()
        if (n := len(p.read_text("utf-8").splitlines())) > MODULE_LINES
    ]
    assert over == []


def test_no_function_is_over_60_lines():
    assert [f for p in modules() for f in long_functions(p)] == []
