"""The devcluster's certificate authority and the certificates its components use.

Every key is ECDSA P-256 (instant to generate). Certificates are made once per state folder and
kept, so kubeconfigs stay valid across ``down``/``up``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY: Final = datetime.timedelta(days=3650)
#: the first address of the legacy service range (each cluster now has its own, see
#: ``mlops_devcluster.agent.addresses.service_network``)
KUBERNETES_SERVICE_IP: Final = "10.96.0.1"
APISERVER_DNS_NAMES: Final = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's subject: the user name and groups the API server sees."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN: Final = ClientIdentity("admin", "devcluster-admin", ("system:masters",))
CONTROLLER_MANAGER: Final = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER: Final = ClientIdentity("scheduler", "system:kube-scheduler")
ETCD_CLIENT: Final = ClientIdentity("apiserver-etcd-client", "kube-apiserver-etcd-client")
#: the API server's identity towards the node agent's log endpoint (``kubectl logs``)
KUBELET_CLIENT: Final = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("kube-apiserver",)
)
CLIENTS: Final = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, ETCD_CLIENT, KUBELET_CLIENT)


@dataclass(frozen=True)
class Pki:
    """Paths of the files in a ``pki`` folder."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def etcd_cert(self) -> Path:
        return self.root / "etcd-server.crt"

    @property
    def etcd_key(self) -> Path:
        return self.root / "etcd-server.key"

    @property
    def kubelet_cert(self) -> Path:
        """The node agent's serving certificate (its kubelet-style log endpoint)."""
        return self.root / "node-agent.crt"

    @property
    def kubelet_key(self) -> Path:
        return self.root / "node-agent.key"

    @property
    def sa_key(self) -> Path:
        """The service-account token signing key (private)."""
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def client_cert(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.file_stem}.crt"

    def client_key(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.file_stem}.key"

    def complete(self) -> bool:
        files = [self.ca_cert, self.ca_key, self.apiserver_cert, self.apiserver_key]
        files += [self.etcd_cert, self.etcd_key, self.sa_key, self.sa_pub]
        files += [self.kubelet_cert, self.kubelet_key]
        files += [self.client_cert(c) for c in CLIENTS] + [self.client_key(c) for c in CLIENTS]
        return all(f.is_file() for f in files)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    path.write_bytes(data)
    path.chmod(0o600 if private else 0o644)


def _leaf(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usages: list[x509.ObjectIdentifier],
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> tuple[bytes, bytes]:
    key = _new_key()
    builder = _builder(subject, ca_cert.subject, key.public_key())
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_encipherment=False,
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if dns_names or ip_addresses:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _new_ca(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key = _new_key()
    ca_subject = _name("mlops-devcluster-ca")
    ca_cert = (
        _builder(ca_subject, ca_subject, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(pki.ca_key, _key_pem(ca_key), private=True)
    return ca_cert, ca_key


def _load_ca(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{pki.ca_key} is not an ECDSA key; delete {pki.root} to start afresh")
    return cert, key


@dataclass(frozen=True)
class LeafSpec:
    """One certificate signed by the devcluster CA, and where it goes."""

    cert: Path
    key: Path
    subject: x509.Name
    usages: tuple[x509.ObjectIdentifier, ...]
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


def kubernetes_service_ip(service_cidr: str) -> str:
    """The first address of the service range: the ClusterIP of Service default/kubernetes."""
    return str(next(ipaddress.ip_network(service_cidr).hosts()))


def leaf_specs(pki: Pki, *, service_ip: str = KUBERNETES_SERVICE_IP) -> list[LeafSpec]:
    """Every certificate of a devcluster: three serving certificates, then the clients."""
    server = (ExtendedKeyUsageOID.SERVER_AUTH,)
    client = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    loopback = {"dns_names": ("localhost",), "ip_addresses": ("127.0.0.1",)}
    specs = [
        LeafSpec(
            pki.apiserver_cert,
            pki.apiserver_key,
            _name("kube-apiserver"),
            server,
            dns_names=APISERVER_DNS_NAMES,
            ip_addresses=("127.0.0.1", service_ip),
        ),
        LeafSpec(pki.etcd_cert, pki.etcd_key, _name("etcd"), server + client, **loopback),
        LeafSpec(
            pki.kubelet_cert,
            pki.kubelet_key,
            _name("mlops-devcluster-node-agent"),
            server,
            **loopback,
        ),
    ]
    specs += [
        LeafSpec(pki.client_cert(c), pki.client_key(c), _name(c.user, c.groups), client)
        for c in CLIENTS
    ]
    return specs


def ensure_pki(pki: Pki, *, service_ip: str = KUBERNETES_SERVICE_IP) -> None:
    """Create whatever is missing of the CA, serving and client certificates and the
    service-account keys (an existing CA is kept, so existing kubeconfigs stay valid)."""
    if pki.complete():
        return
    pki.root.mkdir(parents=True, exist_ok=True)
    if pki.ca_cert.is_file() and pki.ca_key.is_file():
        ca_cert, ca_key = _load_ca(pki)
    else:
        ca_cert, ca_key = _new_ca(pki)
    for spec in leaf_specs(pki, service_ip=service_ip):
        if spec.cert.is_file() and spec.key.is_file():
            continue
        cert, key = _leaf(
            ca_cert=ca_cert,
            ca_key=ca_key,
            subject=spec.subject,
            usages=list(spec.usages),
            dns_names=spec.dns_names,
            ip_addresses=spec.ip_addresses,
        )
        _write(spec.cert, cert, private=False)
        _write(spec.key, key, private=True)
    if not (pki.sa_key.is_file() and pki.sa_pub.is_file()):
        sa_key = _new_key()
        _write(pki.sa_key, _key_pem(sa_key), private=True)
        sa_pub = sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(pki.sa_pub, sa_pub, private=False)
