"""GitOps health of real objects: Flux's kstatus (the real library, built from the Go module
proxy) and Argo CD's health.lua (a real Lua interpreter) on objects of each kind, in each state,
as the API server returns them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from gitops_states import CASES, ROOT, Case, argocd_health, make_real, supported

from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration

KSTATUS_SOURCE = ROOT / "gitops" / "kstatus"
KSTATUS_INPUTS = ("go.mod", "go.sum", "main.go")


def kstatus_binary() -> Path:
    """``gitops/kstatus`` built once per version of its sources, cached under ~/.cache."""
    digest = hashlib.sha256()
    for name in KSTATUS_INPUTS:
        digest.update((KSTATUS_SOURCE / name).read_bytes())
    cache = Path.home() / ".cache" / "mlops-gitops" / f"kstatus-{digest.hexdigest()[:16]}"
    binary = cache / "kstatus"
    if binary.exists():
        return binary
    go = shutil.which("go")
    assert go, "go is needed to build the kstatus checker (gitops/kstatus)"
    cache.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOMODCACHE": os.environ.get("GOMODCACHE", str(Path.home() / ".cache" / "go-mod")),
        "GOCACHE": os.environ.get("GOCACHE", str(Path.home() / ".cache" / "go-build")),
        "GOFLAGS": "-mod=readonly",
        "CGO_ENABLED": "0",
    }
    partial = cache / "kstatus.partial"
    result = subprocess.run(
        [go, "build", "-o", str(partial), "."],
        cwd=KSTATUS_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, f"building gitops/kstatus failed:\n{result.stderr}"
    partial.replace(binary)
    return binary


@pytest.fixture(scope="module")
def kstatus() -> Path:
    return kstatus_binary()


def crd_schemas(devcluster: DevCluster) -> dict[str, dict[str, object]]:
    crds = json.loads(devcluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
    return {
        crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for crd in crds
        if crd["spec"]["group"] == "mlops.dev"
    }


def compute_kstatus(kstatus: Path, objects: list[dict[str, object]]) -> list[dict[str, str]]:
    result = subprocess.run(
        [str(kstatus)],
        input="\n---\n".join(json.dumps(o) for o in objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_flux_kstatus_and_argocd_health_of_real_objects(
    devcluster: DevCluster, namespace: str, kstatus: Path
) -> None:
    devcluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    schemas = crd_schemas(devcluster)
    cases: list[Case] = [c for c in CASES if supported(c, schemas[c.kind])]
    # The paused rollout needs a Deployment CRD with spec.paused; every other case always runs.
    assert len(cases) >= len(CASES) - 1

    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return devcluster.kubectl(*args, input=input)

    objects = [make_real(case, kubectl, namespace) for case in cases]
    computed = compute_kstatus(kstatus, objects)
    assert len(computed) == len(cases)
    for case, obj, flux in zip(cases, objects, computed, strict=True):
        label = f"{case.kind}/{case.name}"
        assert flux["status"] == case.kstatus, f"{label}: kstatus {flux}"
        assert argocd_health(case.kind, obj) == (case.argocd, case.argocd_message), label
    behind = [o for c, o in zip(cases, objects, strict=True) if c.spec_change is not None]
    assert behind
    for obj in behind:
        assert obj["metadata"]["generation"] == obj["status"]["observedGeneration"] + 1


def test_kstatus_can_tell_a_stalled_object_from_a_ready_one(kstatus: Path) -> None:
    """The checker above can fail: the same object flips from Current to Failed."""
    obj = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "m", "namespace": "n", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Stalled", "status": "False", "reason": "Ready"}],
        },
    }
    assert compute_kstatus(kstatus, [obj])[0]["status"] == "Current"
    obj["status"]["conditions"][0]["status"] = "True"  # type: ignore[index]
    assert compute_kstatus(kstatus, [obj])[0]["status"] == "Failed"
