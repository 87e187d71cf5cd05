"""The node agent's main loop: nodes, heartbeats, and a worker per pod bound to its nodes."""

from __future__ import annotations

import ipaddress
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Final

from mlops_devcluster.agent.addresses import (
    AddressPool,
    LoopbackRange,
    cluster_octet,
    fallback_network,
    pod_network,
    pod_range_marker,
    service_range_marker,
)
from mlops_devcluster.agent.heartbeat import (
    HEARTBEAT_SECONDS,
    allocatable,
    heartbeat,
    register_node,
)
from mlops_devcluster.agent.hosts import HostsFiles
from mlops_devcluster.agent.log_server import LogServer
from mlops_devcluster.agent.nodes import NodeSpec, default_nodes, now
from mlops_devcluster.agent.pod_runtime import HostPython, PodRuntime
from mlops_devcluster.agent.pod_worker import PodWorker
from mlops_devcluster.agent.runtime import Runtime
from mlops_devcluster.agent.service_proxy import ServiceProxy
from mlops_devcluster.agent.service_routing import ServiceRouting
from mlops_devcluster.agent.services import Backend
from mlops_devcluster.agent.watching import follow
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kube import ApiError
from mlops_devcluster.pki import Pki
from mlops_devcluster.ports import HOST

Object = dict[str, Any]
PODS_PATH: Final = "/api/v1/pods"
JOIN_SECONDS: Final = 15.0
#: the benchmarking range: only Service ranges inside it are added to lo
OWN_RANGE: Final = ipaddress.IPv4Network("198.18.0.0/15")
log = logging.getLogger("mlops_devcluster.agent")


class Agent:
    def __init__(self, cluster: DevCluster, nodes: list[NodeSpec]) -> None:
        self.cluster = cluster
        self.nodes = nodes
        self.node_names = {n.name for n in nodes}
        octet = cluster_octet(cluster.root)
        self.pod_range = LoopbackRange(pod_network(octet), marker=pod_range_marker(cluster.layout))
        on_lo = self.pod_range.add()
        network = self.pod_range.network if on_lo else fallback_network(octet)
        pod_runtime = PodRuntime(HostPython.current(), cluster.layout.run / "runtime").prepare()
        self.runtime = Runtime(
            kube=cluster.kube(),
            layout=cluster.layout,
            api_host=HOST,
            api_port=cluster.config.ports.apiserver,
            addresses=AddressPool(network, loopback=self.pod_range if on_lo else None),
            allocatable=allocatable(nodes),
            hosts=HostsFiles(cluster.layout.run / "hosts"),
            runtime_mounts=pod_runtime.mounts,
            python_bin=pod_runtime.bin_dir,
        )
        self.service_range = LoopbackRange(
            ipaddress.IPv4Network(cluster.config.service_cidr),
            marker=service_range_marker(cluster.layout),
            without="Service ClusterIPs are not served",
        )
        self.routing = ServiceRouting(
            kube=self.runtime.kube,
            hosts=self.runtime.hosts,
            stopping=self.runtime.stopping,
            api_server=Backend(HOST, cluster.config.ports.apiserver),
            proxy=ServiceProxy() if self._serve_cluster_ips() else None,
        )
        self.log_server = LogServer(
            root=cluster.root, pki=Pki(cluster.layout.pki), stopping=self.runtime.stopping
        )
        self.workers: dict[str, PodWorker] = {}
        self.uids: dict[str, str] = {}
        self._lock = threading.Lock()

    def _serve_cluster_ips(self) -> bool:
        """Whether the Service range is on ``lo`` (added now or by an earlier run)."""
        if not self.service_range.network.subnet_of(OWN_RANGE):
            log.warning(
                "Service range %s predates Service routing (ClusterIPs are not served): "
                "recreate the devcluster with `mlops devcluster down --purge` and `up`",
                self.service_range.network,
            )
            return False
        return self.service_range.add()

    @property
    def stopping(self) -> threading.Event:
        return self.runtime.stopping

    def run(self) -> None:
        kube = self.runtime.kube
        while not kube.ready():
            if self.stopping.wait(0.5):
                return
        since = now()
        self.log_server.start()
        for spec in self.nodes:
            while not self.stopping.is_set():
                try:
                    self.uids[spec.name] = register_node(
                        kube, spec, since=since, log_port=self.log_server.port
                    )
                    break
                except (ApiError, OSError) as exc:
                    log.info("registering node %s: %s (retrying)", spec.name, exc)
                    self.stopping.wait(1.0)
        log.info("nodes registered: %s", ", ".join(sorted(self.node_names)))
        threading.Thread(target=self._heartbeats, args=(since,), daemon=True).start()
        threading.Thread(target=self._watch_pods, daemon=True).start()
        self.routing.start()
        self.stopping.wait()
        self._shutdown()

    def _heartbeats(self, since: str) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                heartbeat(
                    self.runtime.kube,
                    self.nodes,
                    self.uids,
                    since=since,
                    log_port=self.log_server.port,
                )
            except OSError as exc:
                log.warning("heartbeat: %s", exc)

    def _watch_pods(self) -> None:
        follow(
            self.runtime.kube,
            PODS_PATH,
            stopping=self.stopping,
            on_list=self._pods_listed,
            on_event=self._pod_event,
            fieldSelector="spec.nodeName!=",
        )

    def _pods_listed(self, pods: list[Object]) -> None:
        seen = set()
        for pod in pods:
            seen.add(pod["metadata"]["uid"])
            self._observe(pod)
        with self._lock:
            vanished = [uid for uid in self.workers if uid not in seen]
        for uid in vanished:
            self._forget(uid)

    def _pod_event(self, kind: str, pod: Object) -> None:
        if kind == "DELETED":
            self._forget(pod["metadata"]["uid"])
        else:
            self._observe(pod)

    def _observe(self, pod: Object) -> None:
        if pod.get("spec", {}).get("nodeName") not in self.node_names:
            return
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self.workers.get(uid)
            if worker is None:
                worker = PodWorker(self.runtime, pod)
                self.workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    def _forget(self, uid: str) -> None:
        with self._lock:
            worker = self.workers.pop(uid, None)
        if worker is not None:
            worker.gone()

    def _shutdown(self) -> None:
        log.info("stopping: terminating the pods' processes")
        with self._lock:
            workers = list(self.workers.values())
        deadline = time.monotonic() + JOIN_SECONDS
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.routing.close()
        self.service_range.remove()
        self.pod_range.remove()
        self.log_server.stop()


def check_isolation() -> str | None:
    """Why pods cannot get their own mount and UTS namespaces here, or None when they can."""
    try:
        result = subprocess.run(
            ["unshare", "--mount", "--uts", "--propagation", "private", "true"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run unshare: {exc}"
    if result.returncode != 0:
        return result.stderr.strip() or f"unshare exited {result.returncode}"
    return None


def main(root: Path) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    problem = check_isolation()
    if problem is not None:
        log.error(
            "the node agent runs each container in its own mount namespace (for its volumes, "
            "service-account token and termination-message file) and needs root for that "
            "(util-linux unshare --mount): %s. Run `mlops devcluster up` as root.",
            problem,
        )
        raise SystemExit(1)
    agent = Agent(DevCluster.load(root), default_nodes())

    def stop(signum: int, _frame: object) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()
