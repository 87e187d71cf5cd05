"""``up``, ``down`` and ``status`` of a devcluster in a state folder."""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mlops_devcluster import components as comp
from mlops_devcluster import processes
from mlops_devcluster.agent.addresses import (
    SERVICES,
    cluster_octet,
    pod_range_marker,
    remove_range,
    service_network,
    service_range_marker,
)
from mlops_devcluster.binaries import resolve_binaries
from mlops_devcluster.cluster import (
    BUCKET,
    CPU_NODE,
    GPU_NODE,
    S3_NAMESPACE,
    S3_SECRET,
    ClusterConfig,
    DevCluster,
    NotRunningError,
)
from mlops_devcluster.kube import ApiError, Kube
from mlops_devcluster.kubeconfig import build_kubeconfig, write_kubeconfig
from mlops_devcluster.kueue import KUEUE, stop_kueue
from mlops_devcluster.layout import Layout
from mlops_devcluster.minio import build_s3_secret
from mlops_devcluster.pki import (
    ADMIN,
    CONTROLLER_MANAGER,
    SCHEDULER,
    ClientIdentity,
    Pki,
    ensure_pki,
    kubernetes_service_ip,
)
from mlops_devcluster.ports import Ports, check_ports, free_ports

DEFAULT_TIMEOUT: Final = 120.0
#: started once the API server is ready: the controller manager gives up after 10 s without a
#: healthy API server, which a loaded machine can take longer than to bootstrap RBAC
AFTER_API: Final = (comp.CONTROLLER_MANAGER, comp.SCHEDULER)
Log = Callable[[str], None]


class StartError(RuntimeError):
    """The devcluster did not come up; the message names the component and its log."""


def _quiet(_: str) -> None:
    pass


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def running_components(layout: Layout) -> dict[str, int | None]:
    return {name: processes.running_pid(layout.pid_file(name)) for name in comp.NAMES}


def _service_cidr(root: Path, services: int = SERVICES) -> str:
    """This cluster's own Service range (next to its pod range), so that the ClusterIPs of two
    devclusters on one machine rarely meet."""
    return str(service_network(cluster_octet(root), services=services))


def _new_config(root: Path, *, use_free_ports: bool, services: int = SERVICES) -> ClusterConfig:
    ports = free_ports() if use_free_ports else Ports()
    return ClusterConfig(
        ports=ports,
        binaries=resolve_binaries(),
        s3_access_key="mlops-" + secrets.token_hex(4),
        s3_secret_key=secrets.token_urlsafe(24),
        service_cidr=_service_cidr(root, services),
    )


def _write_kubeconfigs(layout: Layout, server: str) -> None:
    pki = Pki(layout.pki)
    identities: list[tuple[Path, ClientIdentity]] = [(layout.kubeconfig, ADMIN)]
    identities += [
        (layout.component_kubeconfig(c.file_stem), c) for c in (CONTROLLER_MANAGER, SCHEDULER)
    ]
    for path, identity in identities:
        document = build_kubeconfig(
            server=server,
            ca_file=pki.ca_cert,
            cert_file=pki.client_cert(identity),
            key_file=pki.client_key(identity),
            user=identity.user,
        )
        write_kubeconfig(path, document)


def _config(
    layout: Layout,
    *,
    running: dict[str, int | None],
    use_free_ports: bool,
    services: int = SERVICES,
) -> ClusterConfig:
    """The saved configuration, else a new one; ports are chosen again while the cluster has
    never run (e.g. its ports were taken), binaries again when one has gone missing."""
    if not layout.config_file.exists():
        config = _new_config(layout.root, use_free_ports=use_free_ports, services=services)
        config.save(layout.config_file)
        return config
    config = ClusterConfig.load(layout.config_file)
    if not any(running.values()) and not layout.etcd_data.exists():
        ports = free_ports() if use_free_ports else Ports()
        cidr = _service_cidr(layout.root, services)
        config = dataclasses.replace(config, ports=ports, service_cidr=cidr)
    if not all(Path(p).exists() for p in config.binaries.to_json().values()):
        config = dataclasses.replace(config, binaries=resolve_binaries())
    config.save(layout.config_file)
    return config


def up(
    root: Path,
    *,
    use_free_ports: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    log: Log = _quiet,
    services: int = SERVICES,
) -> DevCluster:
    """Start every component that is not running yet and wait until the cluster is usable:
    API ready, both nodes Ready, ServiceAccounts made, bucket and Secret ``mlops-s3`` there.
    ``services``: how many Services a new cluster's ClusterIP range holds at least."""
    layout = Layout(root)
    layout.ensure()
    running = running_components(layout)
    config = _config(layout, running=running, use_free_ports=use_free_ports, services=services)
    cluster = DevCluster(layout, config)
    started_now = not all(running.values())
    if not started_now:
        log(f"devcluster in {root} is already up ({cluster.server})")
    else:
        if not any(running.values()):
            check_ports(config.ports, can_move=not layout.etcd_data.exists())
        if running[comp.NODE_AGENT] is None:
            _stop_stray_pods(layout)
        ensure_pki(Pki(layout.pki), service_ip=kubernetes_service_ip(config.service_cidr))
        _write_kubeconfigs(layout, cluster.server)
        _start(cluster, running, [n for n in comp.NAMES if n not in AFTER_API], log=log)
    try:
        deadline = time.monotonic() + timeout
        if started_now:
            _wait(
                "kube-apiserver ready",
                cluster.kube().ready,
                layout=layout,
                deadline=deadline,
                log=_quiet,
                names=[n for n in comp.NAMES if n not in AFTER_API],
            )
            _start(cluster, running, list(AFTER_API), log=log)
        _wait_usable(cluster, timeout=max(1.0, deadline - time.monotonic()), log=log)
    except StartError:
        if started_now:
            down(root)
        raise
    return cluster


def _start(
    cluster: DevCluster, running: dict[str, int | None], names: list[str], *, log: Log
) -> None:
    layout = cluster.layout
    for component in comp.components(layout, cluster.config):
        if component.name in names and running[component.name] is None:
            processes.start(
                component.argv,
                pid_file=layout.pid_file(component.name),
                log_file=layout.log_file(component.name),
                env=component.env,
                cwd=layout.root,
            )
            log(f"started {component.name} (log: {layout.log_file(component.name)})")


def _check_alive(layout: Layout, names: list[str] | None = None) -> None:
    for name, pid in running_components(layout).items():
        if pid is None and (names is None or name in names):
            raise StartError(
                f"{name} exited during start-up; last lines of {layout.log_file(name)}:\n"
                f"{_log_tail(layout.log_file(name))}"
            )


def _wait(
    what: str,
    check: Callable[[], bool],
    *,
    layout: Layout,
    deadline: float,
    log: Log,
    names: list[str] | None = None,
) -> None:
    while True:
        _check_alive(layout, names)
        try:
            if check():
                log(f"{what}: ok")
                return
        except (ApiError, OSError):
            pass
        if time.monotonic() > deadline:
            raise StartError(f"timed out waiting for {what}; component logs are in {layout.logs}")
        time.sleep(0.25)


def _wait_usable(cluster: DevCluster, *, timeout: float, log: Log) -> None:
    deadline = time.monotonic() + timeout
    layout = cluster.layout
    kube = cluster.kube()

    _wait("kube-apiserver ready", kube.ready, layout=layout, deadline=deadline, log=log)
    _wait(
        "MinIO bucket and Secret",
        lambda: _ensure_s3(cluster, kube),
        layout=layout,
        deadline=deadline,
        log=log,
    )
    _wait("nodes Ready", lambda: _nodes_ready(kube), layout=layout, deadline=deadline, log=log)
    _wait(
        "ServiceAccount default/default",
        lambda: bool(kube.get("/api/v1/namespaces/default/serviceaccounts/default")),
        layout=layout,
        deadline=deadline,
        log=log,
    )


def _nodes_ready(kube: Kube) -> bool:
    ready = set()
    for node in kube.get("/api/v1/nodes").get("items", []):
        for condition in node.get("status", {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                ready.add(node["metadata"]["name"])
    return {CPU_NODE, GPU_NODE} <= ready


def _ensure_s3(cluster: DevCluster, kube: Kube) -> bool:
    """Create bucket ``mlops`` in MinIO and Secret ``mlops-system/mlops-s3``."""
    try:
        health = cluster.s3_endpoint + "/minio/health/ready"  # an http:// URL we built
        with urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310
            if answer.status != 200:
                return False
    except urllib.error.URLError:
        return False
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.s3_endpoint,
        aws_access_key_id=cluster.s3_access_key,
        aws_secret_access_key=cluster.s3_secret_key,
        region_name="us-east-1",
    )
    try:
        s3.create_bucket(Bucket=BUCKET)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise
    _create_if_missing(
        kube,
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": S3_NAMESPACE}},
    )
    secret = build_s3_secret(
        namespace=S3_NAMESPACE,
        name=S3_SECRET,
        access_key=cluster.s3_access_key,
        secret_key=cluster.s3_secret_key,
        endpoint=cluster.s3_endpoint,
    )
    path = f"/api/v1/namespaces/{S3_NAMESPACE}/secrets"
    if not _create_if_missing(kube, path, secret):
        kube.merge_patch(f"{path}/{S3_SECRET}", {"data": secret["data"]})
    return True


def _create_if_missing(kube: Kube, path: str, body: dict[str, object]) -> bool:
    try:
        kube.create(path, body)
    except ApiError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def down(root: Path, *, purge: bool = False, log: Log = _quiet) -> list[str]:
    """Stop every process the devcluster started (the node agent first, so it stops its pods);
    with ``purge``, delete the state folder. Returns the names of what was running."""
    layout = Layout(root)
    stopped = []
    if stop_kueue(layout):
        stopped.append(KUEUE)
        log(f"stopped {KUEUE}")
    for name in (comp.NODE_AGENT, comp.MINIO, comp.SCHEDULER, comp.CONTROLLER_MANAGER):
        if processes.stop(layout.pid_file(name), grace=15.0):
            stopped.append(name)
            log(f"stopped {name}")
    _stop_stray_pods(layout)
    remove_range(pod_range_marker(layout))
    remove_range(service_range_marker(layout))
    for name in (comp.APISERVER, comp.ETCD):
        if processes.stop(layout.pid_file(name), grace=15.0):
            stopped.append(name)
            log(f"stopped {name}")
    processes.reap_children()
    if purge and root.exists():
        shutil.rmtree(root)
        log(f"removed {root}")
    return stopped


def _stop_stray_pods(layout: Layout) -> None:
    """Pod processes left behind by an agent that died without stopping them."""
    pods_run = layout.run / "pods"
    if not pods_run.is_dir():
        return
    for pid_file in pods_run.glob("*.pid"):
        processes.stop(pid_file, grace=5.0)


@dataclass(frozen=True)
class Status:
    root: Path
    components: dict[str, int | None]
    api_ready: bool
    cluster: DevCluster | None

    @property
    def up(self) -> bool:
        return all(self.components.values()) and self.api_ready


def status(root: Path) -> Status:
    layout = Layout(root)
    running = running_components(layout)
    try:
        cluster: DevCluster | None = DevCluster.load(root)
    except NotRunningError:
        cluster = None
    api_ready = False
    if cluster is not None and running[comp.APISERVER]:
        try:
            api_ready = cluster.kube().ready()
        except OSError:
            api_ready = False
    return Status(root=root, components=running, api_ready=api_ready, cluster=cluster)
