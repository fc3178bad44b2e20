"""The import contracts of pyproject.toml ``[tool.importlinter]``, checked by lint-imports.

They encode docs/style.md "Data flow and import rules": workers > receiver > rules,
workers never reach the HTTP edge, the pure packages import no I/O library, and
sibling adapters / channels / probes stay independent. A broken contract prints
the offending import chain (module -> module, with line numbers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports() -> Path:
    """lint-imports of the venv running the tests (make test: .venv/bin)."""
    for candidate in (
        Path(sys.executable).parent / "lint-imports",
        ROOT / ".venv" / "bin" / "lint-imports",
    ):
        if candidate.exists():
            return candidate
    raise AssertionError("lint-imports not found: install the test extras (make test does)")


def test_import_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # run from the project root: lint-imports reads ./pyproject.toml there
    result = subprocess.run(
        [str(_lint_imports()), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    assert result.returncode == 0, f"import contracts broken:\n{result.stdout}\n{result.stderr}"
