"""Faults a careless user hit (issue 15): each one now ends in one clear line (or does the right thing).

Every test here drives the real CLI (a `python -m lutnas` subprocess or click's runner) with the
absurd or hostile input that used to give a traceback, a silent wrong result, or an orphaned process.
"""

from __future__ import annotations

import os

os.environ.setdefault("TVM_NUM_THREADS", "1")

import subprocess
import sys
from pathlib import Path

from helpers import REPO


def one_line_error(proc: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """Assert `proc` failed with exit `code` and exactly one stderr line holding every needle."""
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and err.count("\n") == 0, proc.stderr
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# ---- an unexpected exception is reported as a bug, with its traceback kept ----------------------

BUGGY = ("import sys\nfrom lutnas.cli import cli, main\n"
         "@cli.command('boom')\ndef boom():\n    {}.get('x')['y']\n"
         "main(sys.argv[1:])\n")


def run_python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -c code args` from the repository root, with `env` added to this environment."""
    return subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **env}, timeout=120)


def test_unexpected_exception_is_one_line_naming_a_bug(tmp_path):
    proc = run_python(BUGGY, "boom", TMPDIR=str(tmp_path), LUTNAS_DEBUG="0")
    line = one_line_error(proc, "internal error: TypeError", "bug in lutnas", code=70)
    saved = Path(line.rsplit(" ", 1)[-1])
    assert saved.parent == tmp_path and "Traceback" in saved.read_text() and "boom" in saved.read_text()
    debug = run_python(BUGGY, "boom", TMPDIR=str(tmp_path), LUTNAS_DEBUG="1")
    assert debug.returncode == 70 and "Traceback" in debug.stderr and "traceback above" in debug.stderr
