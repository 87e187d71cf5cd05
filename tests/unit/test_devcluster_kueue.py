"""Kueue on the devcluster: its configuration, its CRDs' conversion webhook, its certificate."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from mlops_devcluster.kueue import KueuePorts, configuration, crd_manifests, make_webhook_certs

pytestmark = pytest.mark.unit


def test_manager_handles_only_queued_jobs_on_loopback() -> None:
    config = configuration(ports=KueuePorts(webhook=40001, health=40002), cert_dir=Path("/c"))
    assert config["manageJobsWithoutQueueName"] is False
    assert config["integrations"]["frameworks"] == ["batch/job"]
    assert config["webhook"] == {"port": 40001, "host": "127.0.0.1", "certDir": "/c"}
    assert config["health"]["healthProbeBindAddress"] == "127.0.0.1:40002"
    assert config["metrics"]["bindAddress"] == "0"
    assert config["leaderElection"]["leaderElect"] is False
    assert config["featureGates"]["VisibilityOnDemand"] is False


def _crd(plural: str) -> dict[str, object]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kueue.x-k8s.io"},
        "spec": {"names": {"plural": plural}, "versions": []},
    }


def test_converted_crds_point_at_the_manager_on_loopback(tmp_path: Path) -> None:
    for plural in ("workloads", "resourceflavors"):
        (tmp_path / f"{plural}.yaml").write_text(yaml.safe_dump(_crd(plural)))
    crds = {
        c["spec"]["names"]["plural"]: c
        for c in crd_manifests(tmp_path, webhook_port=40001, ca_pem=b"CA")
    }
    conversion = crds["workloads"]["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["url"] == "https://127.0.0.1:40001/convert"
    assert base64.b64decode(conversion["webhook"]["clientConfig"]["caBundle"]) == b"CA"
    assert "conversion" not in crds["resourceflavors"]["spec"]


def test_webhook_certificate_serves_the_service_name_and_loopback_and_chains_to_its_ca() -> None:
    certs = make_webhook_certs()
    ca = x509.load_pem_x509_certificate(certs.ca_pem)
    cert = x509.load_pem_x509_certificate(certs.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kueue-webhook-service.kueue-system.svc"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    ca_names = ca.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ca_names.get_values_for_type(x509.DNSName) == ["kueue-ca"]  # what Kueue verifies
    public = ca.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    public.verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    # Kueue's rotator reads the CA key back as PKCS#1
    assert certs.ca_key_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert isinstance(load_pem_private_key(certs.key_pem, password=None), rsa.RSAPrivateKey)
