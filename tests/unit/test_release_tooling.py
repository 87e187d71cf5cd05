"""What takes the images to a real cluster, checked without building them: the release workflow
passes actionlint (and a broken one does not), ``images-push`` / ``kind-load`` run the buildah
and kind commands a user would (their dry run), and the smoke test says what to install before
it needs podman's OCI runtime."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT_VERSION = re.search(
    r"^ACTIONLINT_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE
)
VERSION = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("go"), "go is needed to build actionlint (scripts/actionlint.sh)"
    assert ACTIONLINT_VERSION is not None
    return subprocess.run(
        [str(ROOT / "scripts" / "actionlint.sh"), ACTIONLINT_VERSION.group(1), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_workflows_pass_actionlint_and_a_broken_one_does_not(tmp_path: Path) -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["release.yml"]
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    release = workflows[0].read_text()
    broken.write_text(release.replace("needs: images", "needs: imagez"))
    result = actionlint(broken)
    assert result.returncode != 0
    assert "imagez" in result.stdout


def test_the_release_runs_on_a_tag_and_publishes_only_what_was_smoke_tested() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    steps = [step.get("run", "") for step in workflow["jobs"]["images"]["steps"]]
    build = next(i for i, s in enumerate(steps) if "make images" in s)
    smoke = next(i for i, s in enumerate(steps) if "images-smoke" in s)
    push = next(i for i, s in enumerate(steps) if "make images-push" in s)
    assert build < smoke < push
    assert workflow["jobs"]["chart"]["needs"] == "images"


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "images" / "publish-images.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "IMAGES_DRY_RUN": "1"},
    )


def test_images_push_pushes_the_three_images_and_prints_the_chart_values() -> None:
    assert VERSION is not None
    version = VERSION.group(1)
    result = publish("push", "registry.example.com:5000/ml")
    assert result.returncode == 0, result.stderr
    pushes = [line for line in result.stdout.splitlines() if line.startswith("+ buildah")]
    assert [line.split()[-2:] for line in pushes] == [
        [
            f"ghcr.io/mlops-dev/mlops-{name}:{version}",
            f"docker://registry.example.com:5000/ml/mlops-{name}:{version}",
        ]
        for name in ("operator", "trainer", "serving")
    ]
    values = yaml.safe_load(result.stdout.split("or in a values file:", 1)[1])
    assert values == {
        "image": {"repository": "registry.example.com:5000/ml/mlops-operator"},
        "trainer": {"repository": "registry.example.com:5000/ml/mlops-trainer"},
        "serving": {"repository": "registry.example.com:5000/ml/mlops-serving"},
    }
    chart = yaml.safe_load((ROOT / "helm" / "mlops-operator" / "Chart.yaml").read_text())
    assert chart["appVersion"] == version  # the chart's default tag is what was pushed


@pytest.mark.parametrize(
    ("registry", "says"),
    [("", "say where to push"), ("https://registry.example.com/", "no scheme")],
)
def test_images_push_refuses_a_registry_it_cannot_use(registry: str, says: str) -> None:
    result = publish("check", registry)
    assert result.returncode == 2
    assert says in result.stderr


def test_kind_load_writes_docker_archives_and_loads_them() -> None:
    result = publish("archives", "build/images", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    archives = [line.split()[-1] for line in lines if line.startswith("+ buildah")]
    assert archives[0].startswith("docker-archive:build/images/mlops-operator.tar:ghcr.io/")
    loads = [line for line in lines if line.startswith("+ kind load")]
    assert loads == [
        f"+ kind load image-archive build/images/mlops-{name}.tar --name dev"
        for name in ("operator", "trainer", "serving")
    ]


def smoke_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_images", ROOT / "images/smoke_images.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_test_says_what_to_install_before_podman_needs_it() -> None:
    missing_tools = smoke_module().missing_tools
    runc = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]

    def having(*tools: str):  # type: ignore[no-untyped-def]
        return lambda name: f"/usr/bin/{name}" if name in tools else None

    assert "apt-get install podman runc" in missing_tools(runc, having())
    problem = missing_tools(runc, having("podman"))
    assert problem is not None
    assert "apt-get install runc" in problem
    assert missing_tools(runc, having("podman", "runc")) is None
    assert missing_tools(["--runtime=crun"], having("podman", "crun")) is None
    assert "no OCI runtime" in missing_tools([], having("podman"))
    assert missing_tools([], having("podman", "crun")) is None
