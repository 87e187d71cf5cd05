"""Environments of their own for the anchors that benchmarks measure beside the project.

An anchor (Evidently, ...) is another project's implementation of the same task, timed on the
same data in the same run. It is installed on first use into a virtual environment under
``~/.cache/mlops-bench-anchors/NAME`` (never into the project's lock), with ``uv`` when it is
on the PATH and ``python -m venv`` + pip otherwise; later runs reuse it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path.home() / ".cache" / "mlops-bench-anchors"


def anchor_python(name: str, requirements: list[str]) -> Path:
    """The Python of the anchor environment ``name`` with ``requirements`` installed."""
    home = ROOT / name
    python = home / "bin" / "python"
    stamp = home / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating the {name} environment in {home} (first use) ...", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(home)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *requirements], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    stamp.write_text(wanted)
    return python
