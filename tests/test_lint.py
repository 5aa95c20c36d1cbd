"""The house style is checked, not hoped for: ruff lint and format over the library, tests, benchmarks and the site build."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_lint_and_format():
    for args in (["check"], ["format", "--check"]):
        r = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "mtlkit", "tests", "benchmarks", "site"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stdout + r.stderr
