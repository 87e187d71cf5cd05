"""Finding the control-plane, kubectl and MinIO binaries, or building them as a last resort.

Order for etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl: the folder
in ``$KUBEBUILDER_ASSETS`` (the envtest convention), then ``PATH``, then the cache
(``~/.cache/mlops-devcluster/kubernetes-<version>/bin``), else ``build-binaries.sh`` builds them
from the ``k8s.io/kubernetes`` Go module through the Go module proxy. MinIO:
``$MLOPS_DEVCLUSTER_MINIO``, ``PATH``, the cache, else ``build-minio.sh``. helm (for the chart
tests, not for running a devcluster): ``PATH`` when it is the pinned version, the cache, else
``build-helm.sh``. Kueue's manager and its CRDs (for ``up --with-kueue`` and the queue tests):
``$MLOPS_DEVCLUSTER_KUEUE`` (a folder with ``bin/kueue`` and ``crd/``), the cache, else
``build-kueue.sh``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

KUBERNETES_VERSION: Final = "v1.36.3"
ETCD_VERSION: Final = "v3.6.8"
MINIO_VERSION: Final = "v0.0.0-20260212201848-7aac2a2c5b7c"
HELM_VERSION: Final = "v3.22.0"
KUEUE_VERSION: Final = "v0.17.0"
KUEUE_ENV: Final = "MLOPS_DEVCLUSTER_KUEUE"
CONTROL_PLANE: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBECTL: Final = "kubectl"
ASSETS_ENV: Final = "KUBEBUILDER_ASSETS"
MINIO_ENV: Final = "MLOPS_DEVCLUSTER_MINIO"
_PACKAGE_DIR: Final = Path(__file__).resolve().parent


class MissingBinaryError(RuntimeError):
    """A binary could not be found or built; the message says how to provide it."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-devcluster"


def kubernetes_cache_dir() -> Path:
    return cache_root() / f"kubernetes-{KUBERNETES_VERSION}" / "bin"


def minio_cache_dir() -> Path:
    return cache_root() / f"minio-{MINIO_VERSION}" / "bin"


def helm_cache_dir() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}" / "bin"


def kueue_cache_dir() -> Path:
    return cache_root() / f"kueue-{KUEUE_VERSION}"


def _script(name: str) -> Path:
    """A build script: next to the package in a source checkout, or inside it when installed."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / name):
        if candidate.is_file():
            return candidate
    raise MissingBinaryError(f"the build script {name} is missing from {_PACKAGE_DIR.parent}")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _kubectl_on_path_is_real(path: Path) -> bool:
    """``kubectl`` on PATH counts only when it is the pinned version (others may be wrappers)."""
    try:
        out = subprocess.run(
            [str(path), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f'"gitVersion": "{KUBERNETES_VERSION}' in out


def find_binary(name: str, *, search: tuple[Path, ...]) -> Path | None:
    """The first executable ``name`` in ``$KUBEBUILDER_ASSETS``, ``PATH`` and then ``search``."""
    assets = os.environ.get(ASSETS_ENV)
    if assets and _executable(Path(assets) / name):
        return Path(assets) / name
    on_path = shutil.which(name)
    if on_path and (name != KUBECTL or _kubectl_on_path_is_real(Path(on_path))):
        return Path(on_path).resolve()
    for folder in search:
        if _executable(folder / name):
            return folder / name
    return None


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every binary a devcluster runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    minio: Path

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Binaries:
        return cls(**{k: Path(v) for k, v in data.items()})


_PROVIDE_KUBERNETES: Final = (
    f"set {ASSETS_ENV} to a folder with {', '.join(CONTROL_PLANE)} and kubectl "
    f"(Kubernetes {KUBERNETES_VERSION}), or put them on PATH; MinIO: set {MINIO_ENV} to a "
    f"minio binary"
)


def _run_build(
    script: Path, what: str, minutes: str, *, provide: str = _PROVIDE_KUBERNETES
) -> None:
    if shutil.which("go") is None:
        raise MissingBinaryError(
            f"{what} not found, and Go is not installed to build it. Either {provide}, or "
            f"install Go >= 1.26 so that {script.name} can build it."
        )
    print(
        f"{what} not found in PATH or {cache_root()}: building from the Go module "
        f"proxy with {script} (about {minutes} on 2 cores, once; cached afterwards)",
        file=sys.stderr,
        flush=True,
    )
    result = subprocess.run(["bash", str(script)], check=False)
    if result.returncode != 0:
        raise MissingBinaryError(
            f"{script} failed (exit {result.returncode}); see its output above, or provide the "
            f"binaries instead: {provide}"
        )


def resolve_binaries(*, build: bool = True) -> Binaries:
    """Find every binary, building the missing ones when ``build`` (else raise)."""
    kube_dirs = (kubernetes_cache_dir(),)
    names = (*CONTROL_PLANE, KUBECTL)
    found = {n: find_binary(n, search=kube_dirs) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        if not build:
            raise MissingBinaryError(
                f"missing {', '.join(missing)}: set ${ASSETS_ENV} to a folder holding them, put "
                f"them on PATH, or run {_script('build-binaries.sh')} (needs Go)"
            )
        _run_build(_script("build-binaries.sh"), ", ".join(missing), "6 minutes")
        found = {n: find_binary(n, search=kube_dirs) for n in names}
        missing = [n for n, p in found.items() if p is None]
        if missing:
            raise MissingBinaryError(f"the build did not produce {', '.join(missing)}")
    minio = _find_minio()
    if minio is None:
        if not build:
            raise MissingBinaryError(
                f"missing minio: set ${MINIO_ENV} to a minio server binary, put it on PATH, or "
                f"run {_script('build-minio.sh')} (needs Go)"
            )
        _run_build(_script("build-minio.sh"), "minio", "6 minutes")
        minio = _find_minio()
        if minio is None:
            raise MissingBinaryError("the build did not produce minio")
    paths = {n: p for n, p in found.items() if p is not None}
    return Binaries(
        etcd=paths["etcd"],
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kube_scheduler=paths["kube-scheduler"],
        kubectl=paths["kubectl"],
        minio=minio,
    )


def _find_minio() -> Path | None:
    explicit = os.environ.get(MINIO_ENV)
    if explicit:
        if not _executable(Path(explicit)):
            raise MissingBinaryError(f"${MINIO_ENV}={explicit} is not an executable file")
        return Path(explicit)
    on_path = shutil.which("minio")
    if on_path:
        return Path(on_path)
    cached = minio_cache_dir() / "minio"
    return cached if _executable(cached) else None


def _helm_version(path: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(path), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_helm() -> Path | None:
    """``helm`` on PATH when it is exactly the pinned version, else the cached build."""
    on_path = shutil.which("helm")
    if on_path and _helm_version(Path(on_path)) == HELM_VERSION:
        return Path(on_path)
    cached = helm_cache_dir() / "helm"
    if _executable(cached) and _helm_version(cached) == HELM_VERSION:
        return cached
    return None


def resolve_helm(*, build: bool = True) -> Path:
    """The pinned helm, building it from the Go module proxy when missing and ``build``."""
    found = find_helm()
    if found is not None:
        return found
    provide = f"put helm {HELM_VERSION} on PATH"
    if not build:
        raise MissingBinaryError(
            f"missing helm {HELM_VERSION}: {provide}, or run {_script('build-helm.sh')} (needs Go)"
        )
    _run_build(_script("build-helm.sh"), f"helm {HELM_VERSION}", "4 minutes", provide=provide)
    found = find_helm()
    if found is None:
        raise MissingBinaryError(f"the build did not produce helm {HELM_VERSION}")
    return found


@dataclass(frozen=True)
class KueueRelease:
    """Kueue's manager binary and the folder of its CRDs (from the same module version)."""

    binary: Path
    crd_dir: Path


def _kueue_release(folder: Path) -> KueueRelease | None:
    release = KueueRelease(binary=folder / "bin" / "kueue", crd_dir=folder / "crd")
    if _executable(release.binary) and any(release.crd_dir.glob("*.yaml")):
        return release
    return None


def find_kueue() -> KueueRelease | None:
    """Kueue from ``$MLOPS_DEVCLUSTER_KUEUE``, else the cache."""
    explicit = os.environ.get(KUEUE_ENV)
    if explicit:
        release = _kueue_release(Path(explicit))
        if release is None:
            raise MissingBinaryError(
                f"${KUEUE_ENV}={explicit} does not hold bin/kueue and crd/*.yaml"
            )
        return release
    return _kueue_release(kueue_cache_dir())


def resolve_kueue(*, build: bool = True) -> KueueRelease:
    """The pinned Kueue, building it from the Go module proxy when missing and ``build``."""
    found = find_kueue()
    if found is not None:
        return found
    provide = f"set ${KUEUE_ENV} to a folder with bin/kueue and crd/ (Kueue {KUEUE_VERSION})"
    if not build:
        raise MissingBinaryError(
            f"missing Kueue {KUEUE_VERSION}: {provide}, or run {_script('build-kueue.sh')} "
            "(needs Go)"
        )
    _run_build(_script("build-kueue.sh"), f"Kueue {KUEUE_VERSION}", "5 minutes", provide=provide)
    found = find_kueue()
    if found is None:
        raise MissingBinaryError(f"the build did not produce Kueue {KUEUE_VERSION}")
    return found
