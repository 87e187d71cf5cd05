"""A container's Python runtime survives volumes over the host's virtual environment: run in a
mount namespace (as the node agent runs containers) with the checkout and /tmp covered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_devcluster.agent.launch import BindMount, launch_argv, launch_script
from mlops_devcluster.agent.pod_runtime import BIN, SOURCE, VENV, HostPython, PodRuntime
from mlops_devcluster.agent.runtime import SYSTEM_PATH

pytestmark = pytest.mark.integration
CHECKOUT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys
import mlops_core, mlops_devcluster, mlops_trainer
print(json.dumps({
    "prefix": sys.prefix,
    "core": mlops_core.__file__,
    "trainer": mlops_trainer.__file__,
    "host_venv_visible": os.path.exists(sys.argv[1]),
    "tmp": os.listdir("/tmp"),
}))
"""


def test_python_runs_from_opt_mlops_with_the_checkout_and_tmp_covered(tmp_path: Path) -> None:
    runtime = PodRuntime(HostPython.current(), tmp_path / "runtime").prepare()
    empty_checkout, empty_tmp = tmp_path / "cover", tmp_path / "tmp"
    empty_checkout.mkdir()
    empty_tmp.mkdir()
    covers = [BindMount(empty_checkout, str(CHECKOUT)), BindMount(empty_tmp, "/tmp")]
    script = launch_script(hostname="p", mounts=[*runtime.mounts, *covers], working_dir=None)
    result = subprocess.run(
        launch_argv(script, ["python", "-c", PROBE, sys.prefix]),
        env={"PATH": f"{BIN}:{SYSTEM_PATH}", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # a checkout under /tmp is mounted over the covered /tmp, on a mount point made there
    under_tmp = CHECKOUT.is_relative_to("/tmp")
    expected_tmp = [CHECKOUT.relative_to("/tmp").parts[0]] if under_tmp else []
    assert out == {
        "prefix": VENV,
        "core": f"{SOURCE}/core/mlops_core/__init__.py",
        "trainer": f"{SOURCE}/trainer_image/mlops_trainer/__init__.py",
        "host_venv_visible": False,
        "tmp": expected_tmp,
    }
    assert os.path.exists(sys.prefix)  # only the container's view was covered
