"""Command lines of the control-plane components (pure builders).

Everything listens on loopback with TLS; the API server authorizes with RBAC (and the Node
authorizer) and signs service-account tokens. Settings trimmed for a small machine: no
profiling, no leader election, etcd without fsync (its data is disposable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from mlops_devcluster.binaries import Binaries
from mlops_devcluster.layout import Layout
from mlops_devcluster.pki import (
    CONTROLLER_MANAGER,
    ETCD_CLIENT,
    KUBELET_CLIENT,
    SCHEDULER,
    Pki,
)
from mlops_devcluster.ports import HOST, Ports

SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
ETCD_NAME: Final = "devcluster"


def etcd_command(binaries: Binaries, layout: Layout, ports: Ports) -> list[str]:
    pki = Pki(layout.pki)
    client_url = f"https://{HOST}:{ports.etcd_client}"
    peer_url = f"http://{HOST}:{ports.etcd_peer}"
    return [
        str(binaries.etcd),
        f"--name={ETCD_NAME}",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={ETCD_NAME}={peer_url}",
        f"--cert-file={pki.etcd_cert}",
        f"--key-file={pki.etcd_key}",
        f"--trusted-ca-file={pki.ca_cert}",
        "--client-cert-auth=true",
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_command(
    binaries: Binaries, layout: Layout, ports: Ports, *, service_cidr: str
) -> list[str]:
    pki = Pki(layout.pki)
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=https://{HOST}:{ports.etcd_client}",
        f"--etcd-cafile={pki.ca_cert}",
        f"--etcd-certfile={pki.client_cert(ETCD_CLIENT)}",
        f"--etcd-keyfile={pki.client_key(ETCD_CLIENT)}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=Node,RBAC",
        f"--kubelet-client-certificate={pki.client_cert(KUBELET_CLIENT)}",
        f"--kubelet-client-key={pki.client_key(KUBELET_CLIENT)}",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={service_cidr}",
        "--allow-privileged=true",
        "--profiling=false",
        "--enable-priority-and-fairness=false",
        "--event-ttl=30m",
        "--endpoint-reconciler-type=none",
        f"--cert-dir={layout.pki / 'apiserver-generated'}",
        "--v=1",
    ]


def controller_manager_command(
    binaries: Binaries, layout: Layout, *, service_cidr: str
) -> list[str]:
    pki = Pki(layout.pki)
    kubeconfig = layout.component_kubeconfig(CONTROLLER_MANAGER.file_stem)
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={service_cidr}",
        "--controllers=*,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,"
        "-ephemeral-volume,-pv-protection,-pvc-protection,-service-lb-controller,"
        "-node-route-controller,-cloud-node-lifecycle-controller",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_command(binaries: Binaries, layout: Layout) -> list[str]:
    kubeconfig = layout.component_kubeconfig(SCHEDULER.file_stem)
    return [
        str(binaries.kube_scheduler),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
        "--profiling=false",
        "--v=1",
    ]


def ca_file(layout: Layout) -> Path:
    return Pki(layout.pki).ca_cert
