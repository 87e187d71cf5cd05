"""Smoke test of the images that ``images/build-images.sh`` built, run with podman.

For each image: it runs as uid 10001 (non-root), its root filesystem is read-only (only the
``/tmp`` tmpfs is writable), its entry point answers its health endpoint (model server
``/v2/health/live``, router ``/healthz``, operator ``/healthz`` against a devcluster it starts,
trainer ``--help``), and its size is reported. Prints one JSON object as its last line.

    python images/smoke_images.py
    python images/smoke_images.py --check-tools   # only: are podman and its OCI runtime here?
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-images"
STORE = [
    f"--root={CACHE / 'storage'}",
    f"--runroot={CACHE / 'run'}",
    f"--storage-driver={os.environ.get('STORAGE_DRIVER', 'overlay')}",
]
VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "pyproject.toml").read_text().splitlines()
    if line.startswith("version = ")
)
IMAGES = {
    name: f"ghcr.io/mlops-dev/mlops-{name}:{VERSION}" for name in ("operator", "trainer", "serving")
}
#: podman flags; runc with explicit limits also works inside a container whose own limits
#: are lower than podman's defaults (SMOKE_PODMAN_FLAGS replaces these)
RUNTIME = os.environ.get(
    "SMOKE_PODMAN_FLAGS",
    "--runtime runc --cgroup-manager cgroupfs --ulimit nofile=4096:4096 --ulimit nproc=1024:1024",
).split()
#: OCI runtimes podman can use, when the flags name none (its containers.conf picks one)
KNOWN_RUNTIMES = ("crun", "runc")


def missing_tools(flags: list[str], which: Callable[[str], str | None]) -> str | None:
    """What to install before podman can run the images with ``flags``, or None (pure: ``which``
    is ``shutil.which`` or a stand-in)."""
    if which("podman") is None:
        return "podman is missing: install it (Debian: apt-get install podman runc)"
    named = [flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == "--runtime"]
    named += [flag.split("=", 1)[1] for flag in flags if flag.startswith("--runtime=")]
    if named:
        runtime = named[-1]
        if which(runtime) is None and not Path(runtime).is_file():
            return (
                f"the OCI runtime {runtime!r} that podman is told to use (--runtime {runtime}) is "
                f"missing: install it (Debian: apt-get install {Path(runtime).name}), or name "
                "another one in SMOKE_PODMAN_FLAGS"
            )
        return None
    if not any(which(runtime) for runtime in KNOWN_RUNTIMES):
        return "podman has no OCI runtime: install one (Debian: apt-get install runc, or crun)"
    return None


SANDBOX = ["--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--network", "host"]
RUN = ["run", *RUNTIME, "--rm", *SANDBOX]


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *STORE, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}:\n{result.stderr}{result.stdout}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http URLs built here)
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


@contextmanager
def detached(image: str, *args: str, env: dict[str, str], volumes: list[str] = []) -> Iterator[str]:  # noqa: B006
    flags = [f"--env={k}={v}" for k, v in env.items()] + [f"--volume={v}" for v in volumes]
    name = f"mlops-smoke-{os.getpid()}-{time.monotonic_ns()}"
    podman("run", *RUNTIME, *SANDBOX, "--detach", f"--name={name}", *flags, image, *args)
    try:
        yield name
    finally:
        logs = podman("logs", name, check=False).stdout
        podman("rm", "--force", name, check=False)
        if os.environ.get("SMOKE_LOGS"):
            print(logs, file=sys.stderr)


def user_and_read_only(image: str) -> dict[str, Any]:
    uid = podman(*RUN, "--entrypoint", "id", image, "-u").stdout.strip()
    root_write = podman(*RUN, "--entrypoint", "sh", image, "-c", "touch /probe", check=False)
    tmp_write = podman(*RUN, "--entrypoint", "sh", image, "-c", "touch /tmp/probe", check=False)
    return {
        "uid": int(uid),
        "root_read_only": root_write.returncode != 0,
        "tmp_writable": tmp_write.returncode == 0,
    }


def size_bytes(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())


def check_serving(image: str) -> dict[str, bool]:
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port)}
    with detached(image, "serve", env=env):
        server = answers(f"http://127.0.0.1:{port}/v2/health/live", timeout=90)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "router.json"
        backend = f"127.0.0.1:{free_port()}"
        config.write_text(
            json.dumps(
                {
                    "model": "m",
                    "backends": [{"version": "1.0.0", "weight": 100, "endpoints": [backend]}],
                }
            )
        )
        config.chmod(0o644)
        Path(folder).chmod(0o755)
        port = free_port()
        env = {"HOST": "127.0.0.1", "PORT": str(port), "ROUTER_CONFIG_FILE": "/config/router.json"}
        with detached(image, "route", env=env, volumes=[f"{folder}:/config:ro"]):
            router = answers(f"http://127.0.0.1:{port}/healthz", timeout=60)
    # the default flavour serves with ONNX Runtime and has no torch at all
    probe = (
        "import importlib.util as u; "
        "print(u.find_spec('torch') is None, u.find_spec('onnxruntime') is not None)"
    )
    found = podman(*RUN, "--entrypoint", "python", image, "-c", probe, check=False)
    return {
        "server_health": server,
        "router_health": router,
        "no_torch_onnxruntime": found.stdout.split() == ["True", "True"],
    }


def check_trainer(image: str) -> dict[str, bool]:
    result = podman(*RUN, image, "--help", check=False)
    return {"entry_point": result.returncode == 0 and "--config" in result.stdout}


def check_operator(image: str) -> dict[str, bool]:
    """The operator against a devcluster (started here), answering kopf's liveness probe."""
    from mlops_devcluster import lifecycle
    from mlops_devcluster.local_operator import install, service_account_kubeconfig
    from mlops_operator.kube import Kube, load_api_client

    root = Path(tempfile.mkdtemp(prefix="mlops-smoke-"))
    cluster = lifecycle.up(root, use_free_ports=True)
    try:
        admin = Kube(load_api_client(str(cluster.kubeconfig)))
        install(admin)
        # the operator's ServiceAccount, with every certificate inlined (the container sees
        # only this one file)
        account = service_account_kubeconfig(
            admin, admin_kubeconfig=cluster.kubeconfig, path=root / "operator.kubeconfig"
        )
        flat = cluster.kubectl(
            f"--kubeconfig={account}", "config", "view", "--raw", "--flatten", "--minify"
        ).stdout
        shared = Path(tempfile.mkdtemp(prefix="mlops-smoke-config-"))
        shared.chmod(0o755)
        kubeconfig = shared / "kubeconfig"
        kubeconfig.write_text(flat)
        kubeconfig.chmod(0o644)
        port = free_port()
        env = {
            "KUBECONFIG": "/config/kubeconfig",
            "MLOPS_STANDALONE": "true",
            "MLOPS_LIVENESS_ENDPOINT": f"http://127.0.0.1:{port}/healthz",
        }
        volumes = [f"{kubeconfig}:/config/kubeconfig:ro"]
        with detached(image, env=env, volumes=volumes):
            return {"liveness": answers(f"http://127.0.0.1:{port}/healthz", timeout=90)}
    finally:
        lifecycle.down(root, purge=True)


def main() -> int:
    problem = missing_tools(RUNTIME, shutil.which)
    if "--check-tools" in sys.argv[1:]:
        if problem is not None:
            print(f"images-smoke: {problem}", file=sys.stderr)
        return 0 if problem is None else 1
    if problem is not None:
        print(f"images-smoke: {problem}", file=sys.stderr)
        return 1
    checks = {"operator": check_operator, "trainer": check_trainer, "serving": check_serving}
    figures: dict[str, Any] = {}
    met = True
    for name, image in IMAGES.items():
        found = {**user_and_read_only(image), **checks[name](image)}
        found["size_mb"] = round(size_bytes(image) / 1e6)
        figures[name] = found
        ok = found["uid"] == 10001 and all(v for k, v in found.items() if isinstance(v, bool))
        met = met and ok
        print(f"{image}: {'ok' if ok else 'FAILED'} {found}", file=sys.stderr)
    print(json.dumps({"images": figures, "met": met}))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
