"""docs/conversion-matrix.md is generated from the matrix tests and has no empty cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
SCRIPT = REPO / "scripts" / "conversion_matrix.py"


def test_conversion_matrix_doc_is_current_and_complete() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    text = (REPO / "docs" / "conversion-matrix.md").read_text()
    assert text.rstrip().endswith("empty: 0.")
    assert "—" not in text
