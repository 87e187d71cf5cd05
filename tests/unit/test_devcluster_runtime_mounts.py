"""The project's runtime at /opt/mlops in every pod: what is mounted, what is rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_devcluster.agent.launch import BindMount
from mlops_devcluster.agent.pod_runtime import (
    BIN,
    PYTHON_HOME,
    SOURCE,
    VENV,
    HostPython,
    PodRuntime,
    RuntimeMountError,
    check_mount_path,
    editable_paths,
    relocate,
    runtime_home,
    source_root,
)
from mlops_devcluster.agent.probes import exec_argv
from mlops_devcluster.agent.volumes import VolumeError, container_mounts

pytestmark = pytest.mark.unit


def fake_host(tmp_path: Path) -> HostPython:
    """A base interpreter, a checkout with two packages and its .venv (an editable install)."""
    base = tmp_path / "python"
    (base / "bin").mkdir(parents=True)
    (base / "bin" / "python3.11").write_text("binary")
    checkout = tmp_path / "checkout"
    venv = checkout / ".venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "_project.pth").write_text(f"{checkout}/core\n{checkout}/operator\n")
    (site / "distutils-precedence.pth").write_text("import os; os.environ.get('X')\n")
    (venv / "pyvenv.cfg").write_text(f"home = {base}/bin\nversion_info = 3.11.7\n")
    bin_dir = venv / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(base / "bin" / "python3.11")
    (bin_dir / "python3").symlink_to("python")
    (bin_dir / "mlops").write_text(f"#!{venv}/bin/python\nimport mlops\n")
    (bin_dir / "mlops").chmod(0o755)
    return HostPython(venv=venv, base=base, site_packages=(site,))


def test_editable_paths_and_the_checkout_that_holds_them() -> None:
    text = "/src/app/core\n/src/app/operator\nimport sys; sys.path\n\n"
    assert editable_paths(text) == ["/src/app/core", "/src/app/operator"]
    venv = Path("/src/app/.venv")
    assert source_root(["/src/app/core", "/src/app/operator"], inside=[venv]) == "/src/app"
    assert source_root(["/src/app/.venv/lib/x"], inside=[venv]) is None
    assert source_root(["/a/core", "/b/operator"], inside=[venv]) is None  # only / in common


def test_relocate_moves_the_longest_host_path_first() -> None:
    moves = {"/tmp/co": SOURCE, "/tmp/co/.venv": VENV}
    assert relocate("#!/tmp/co/.venv/bin/python\n/tmp/co/core\n", moves) == (
        f"#!{VENV}/bin/python\n{SOURCE}/core\n"
    )
    assert runtime_home("home = /opt/py/bin\nx = 1", base=Path("/opt/py")) == (
        f"home = {PYTHON_HOME}/bin\nx = 1\n"
    )


def test_prepare_mounts_the_runtime_read_only_with_rewritten_paths(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    runtime = PodRuntime(host, tmp_path / "state" / "runtime").prepare()
    targets = {m.target: m for m in runtime.mounts}
    assert runtime.bin_dir == BIN
    assert all(m.read_only for m in runtime.mounts)
    assert targets[PYTHON_HOME].source == host.base
    assert targets[VENV].source == host.venv
    assert targets[SOURCE].source == tmp_path / "checkout"
    assert (
        targets[f"{VENV}/pyvenv.cfg"].source.read_text().startswith(f"home = {PYTHON_HOME}/bin\n")
    )
    pth = targets[f"{VENV}/lib/python3.11/site-packages/_project.pth"].source
    assert pth.read_text() == f"{SOURCE}/core\n{SOURCE}/operator\n"
    assert f"{VENV}/lib/python3.11/site-packages/distutils-precedence.pth" not in targets
    bin_dir = targets[BIN].source
    assert str((bin_dir / "python").readlink()) == f"{PYTHON_HOME}/bin/python3.11"
    assert str((bin_dir / "python3").readlink()) == "python"
    assert (bin_dir / "mlops").read_text() == f"#!{VENV}/bin/python\nimport mlops\n"
    assert (bin_dir / "mlops").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("path", ["/opt/mlops", "/opt/mlops/", "/opt/mlops/venv/cache"])
def test_a_volume_over_the_runtime_is_refused_with_the_reason(path: str) -> None:
    with pytest.raises(RuntimeMountError, match="mount it elsewhere"):
        check_mount_path(path)
    spec = {"name": "main", "volumeMounts": [{"name": "scratch", "mountPath": path}]}
    with pytest.raises(VolumeError, match="would cover /opt/mlops") as caught:
        container_mounts(spec, volumes={"scratch": Path("/state/v")}, hosts_file=None)
    assert caught.value.reason == "CreateContainerConfigError"


@pytest.mark.parametrize("path", ["/opt", "/opt/mlops-cache", "/tmp"])
def test_volumes_beside_or_above_the_runtime_are_mounted(path: str) -> None:
    check_mount_path(path)
    spec = {"name": "main", "volumeMounts": [{"name": "scratch", "mountPath": path}]}
    assert container_mounts(spec, volumes={"scratch": Path("/state/v")}, hosts_file=None) == [
        BindMount(Path("/state/v"), path)
    ]


def test_exec_probes_enter_the_containers_mount_namespace() -> None:
    assert exec_argv(["python", "-c", "1"], pid=4242) == [
        "nsenter",
        "--target=4242",
        "--mount",
        "--uts",
        "--",
        "python",
        "-c",
        "1",
    ]
    assert exec_argv(["true"], pid=None) == ["true"]


def test_outside_a_virtual_environment_pods_use_the_host_path(tmp_path: Path) -> None:
    base = tmp_path / "usr"
    host = HostPython(venv=base, base=base, site_packages=())
    runtime = PodRuntime(host, tmp_path / "runtime").prepare()
    assert runtime.mounts == []
    assert runtime.bin_dir != BIN
