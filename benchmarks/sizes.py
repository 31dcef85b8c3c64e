"""Report modules and functions in simba/ past the size limits of the architecture.

    python benchmarks/sizes.py [--module-lines 450] [--function-lines 70]

Prints one line per module over the module limit and per function (or method) over
the function limit, and exits 1 if there is any: CI runs it beside the import
contracts.  A function's length counts from its ``def`` (decorators excluded) to its
last line, docstring included.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "simba"


def oversized(module_limit: int, function_limit: int) -> list[str]:
    """One line per module or function in ``simba/`` past its limit."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(PACKAGE.parent)
        lines = len(source.splitlines())
        if lines > module_limit:
            found.append(f"{name}: {lines} lines (module limit {module_limit})")
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > function_limit:
                    found.append(
                        f"{name}:{node.lineno}: {node.name}() {length} lines "
                        f"(function limit {function_limit})"
                    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--module-lines", type=int, default=450)
    parser.add_argument("--function-lines", type=int, default=70)
    args = parser.parse_args()
    found = oversized(args.module_lines, args.function_lines)
    for line in found:
        print(line)
    print(f"{len(found)} over the limits" if found else "every module and function is in limits")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
