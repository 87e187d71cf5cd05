"""Kueue's manager on a devcluster: its CRDs installed, the manager run against the API server.

``up --with-kueue`` (and the queue tests' fixture) call :func:`start_kueue` on a running
devcluster; ``down`` stops it with the rest. The manager runs as a local process with the admin
kubeconfig, like the controller manager.

Webhooks. Kueue's admission webhooks (Job defaulting, object validation) are not registered
with the API server: the operator creates its Jobs suspended and labelled with their queue
itself, which is all Kueue's Job webhook would add. Kueue's *conversion* webhooks are
registered, with a ``url`` on loopback (the API server runs on the same host, so it reaches
the manager's webhook port directly, with no Service routing): Kueue's CRDs serve v1beta1 and
v1beta2, and a client asking for v1beta1 needs the conversion. Kueue's own certificate
management stays on (it also writes the metrics certificate the manager insists on), fed a
serving certificate made here: for the webhook Service's DNS name, which Kueue checks, and for
127.0.0.1, which the API server dials.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlops_devcluster import processes
from mlops_devcluster.binaries import KueueRelease, resolve_kueue
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kube import ApiError, Kube
from mlops_devcluster.layout import Layout
from mlops_devcluster.ports import HOST

KUEUE: Final = "kueue"
NAMESPACE: Final = "kueue-system"
WEBHOOK_SERVICE: Final = "kueue-webhook-service"
WEBHOOK_SECRET: Final = "kueue-webhook-server-cert"  # noqa: S105 (a Secret's name)
#: the CRDs whose conversion Kueue serves (and whose caBundle its certificate rotator keeps)
CONVERTED: Final = ("localqueues", "clusterqueues", "workloads", "cohorts", "multikueueclusters")
GROUP: Final = "kueue.x-k8s.io"
START_TIMEOUT: Final = 120.0
Log = Callable[[str], None]


class KueueStartError(RuntimeError):
    """Kueue's manager did not come up; the message says why and where its log is."""


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class KueuePorts:
    webhook: int
    health: int


@dataclass(frozen=True)
class WebhookCerts:
    ca_pem: bytes
    ca_key_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def configuration(*, ports: KueuePorts, cert_dir: Path) -> dict[str, Any]:
    """Kueue's manager configuration (``config.kueue.x-k8s.io/v1beta2``): batch/v1 Jobs only,
    only Jobs with a queue label, loopback ports, no leader election, no metrics listener,
    and the on-demand visibility server off (it would need an aggregated API)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "manageJobsWithoutQueueName": False,
        "health": {"healthProbeBindAddress": f"{HOST}:{ports.health}"},
        "metrics": {"bindAddress": "0"},
        "webhook": {"port": ports.webhook, "host": HOST, "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {
            "enable": True,
            "webhookServiceName": WEBHOOK_SERVICE,
            "webhookSecretName": WEBHOOK_SECRET,
        },
        "clientConnection": {"qps": 200, "burst": 400},
        "integrations": {"frameworks": ["batch/job"]},
        "featureGates": {"VisibilityOnDemand": False},
    }


def crd_manifests(crd_dir: Path, *, webhook_port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """Kueue's CRDs as its module ships them, the converted ones pointed at the manager's
    conversion webhook on loopback."""
    manifests = []
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["plural"] in CONVERTED:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {
                        "url": f"https://{HOST}:{webhook_port}/convert",
                        "caBundle": base64.b64encode(ca_pem).decode(),
                    },
                },
            }
        manifests.append(crd)
    return manifests


def _certificate(
    subject: str, issuer: x509.Name, public_key: rsa.RSAPublicKey, *, ca: bool
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def make_webhook_certs() -> WebhookCerts:
    """A CA (RSA, PKCS#1: what Kueue's rotator reads back) and a serving certificate for the
    webhook Service's name and 127.0.0.1. The CA names itself ``kueue-ca``, as Kueue checks."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kueue-ca")])
    ca_cert = (
        _certificate("kueue-ca", ca_name, ca_key.public_key(), ca=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("kueue-ca")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service = f"{WEBHOOK_SERVICE}.{NAMESPACE}.svc"
    names: list[x509.GeneralName] = [
        x509.DNSName(service),
        x509.IPAddress(ipaddress.ip_address(HOST)),
    ]
    cert = (
        _certificate(service, ca_cert.subject, key.public_key(), ca=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pkcs1 = serialization.PrivateFormat.TraditionalOpenSSL
    none = serialization.NoEncryption()
    return WebhookCerts(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        ca_key_pem=ca_key.private_bytes(serialization.Encoding.PEM, pkcs1, none),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM, pkcs1, none),
    )


def _folder(layout: Layout) -> Path:
    return layout.root / "kueue"


def _webhook_certs(layout: Layout) -> WebhookCerts:
    """The certificates made for this state folder (made once, then reused)."""
    path = _folder(layout) / "webhook-certs.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return WebhookCerts(**{k: v.encode() for k, v in data.items()})
    certs = make_webhook_certs()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v.decode() for k, v in certs.__dict__.items()}))
    path.chmod(0o600)
    return certs


def _create_or_patch(kube: Kube, path: str, name: str, body: dict[str, Any]) -> None:
    try:
        kube.create(path, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
        kube.merge_patch(f"{path}/{name}", body)


def _install(kube: Kube, release: KueueRelease, ports: KueuePorts, certs: WebhookCerts) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in crd_manifests(release.crd_dir, webhook_port=ports.webhook, ca_pem=certs.ca_pem):
        _create_or_patch(kube, crds, crd["metadata"]["name"], crd)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    _create_or_patch(kube, "/api/v1/namespaces", NAMESPACE, namespace)
    data = {
        "ca.crt": certs.ca_pem,
        "ca.key": certs.ca_key_pem,
        "tls.crt": certs.cert_pem,
        "tls.key": certs.key_pem,
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": WEBHOOK_SECRET, "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    _create_or_patch(kube, f"/api/v1/namespaces/{NAMESPACE}/secrets", WEBHOOK_SECRET, secret)


def kueue_running(layout: Layout) -> int | None:
    return processes.running_pid(layout.pid_file(KUEUE))


def _ready(health_port: int) -> bool:
    try:
        url = f"http://{HOST}:{health_port}/readyz"  # an http:// URL we built
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_kueue(
    cluster: DevCluster, *, timeout: float = START_TIMEOUT, log: Log = _quiet
) -> KueueRelease:
    """Install Kueue's CRDs and start its manager on ``cluster`` unless it runs already; wait
    until the manager is ready (its webhook server listening, its caches synced)."""
    layout = cluster.layout
    release = resolve_kueue()
    if kueue_running(layout):
        return release
    webhook, health = _free_ports(2)
    ports = KueuePorts(webhook=webhook, health=health)
    certs = _webhook_certs(layout)
    kube = cluster.kube()
    _install(kube, release, ports, certs)
    folder = _folder(layout)
    # where a pod would mount the certificate Secret: Kueue waits for the files there
    cert_dir = folder / "serving-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("ca.crt", certs.ca_pem),
        ("tls.crt", certs.cert_pem),
        ("tls.key", certs.key_pem),
    ):
        (cert_dir / name).write_bytes(data)
        (cert_dir / name).chmod(0o600)
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(configuration(ports=ports, cert_dir=cert_dir)))
    argv = [str(release.binary), f"--config={config_file}", "--zap-log-level=info"]
    env = {"KUBECONFIG": str(layout.kubeconfig), "HOME": str(folder)}
    started = time.monotonic()
    processes.start(
        argv,
        pid_file=layout.pid_file(KUEUE),
        log_file=layout.log_file(KUEUE),
        env=env,
        cwd=folder,
    )
    deadline = started + timeout
    while not _ready(ports.health):
        if kueue_running(layout) is None:
            tail = layout.log_file(KUEUE).read_text(errors="replace").splitlines()[-15:]
            raise KueueStartError("Kueue's manager exited during start-up:\n" + "\n".join(tail))
        if time.monotonic() > deadline:
            stop_kueue(layout)
            raise KueueStartError(
                f"Kueue's manager was not ready after {timeout:.0f}s; see {layout.log_file(KUEUE)}"
            )
        time.sleep(0.25)
    log(f"started Kueue in {time.monotonic() - started:.1f}s (log: {layout.log_file(KUEUE)})")
    return release


def stop_kueue(layout: Layout) -> bool:
    """Stop Kueue's manager; whether it was running."""
    return processes.stop(layout.pid_file(KUEUE), grace=10.0)
