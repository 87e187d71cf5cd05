"""Certificates, kubeconfigs, binary lookup, ports, command lines, log lookup and the CLI."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlops_devcluster import binaries, cli, processes
from mlops_devcluster.binaries import Binaries, MissingBinaryError, find_binary, resolve_binaries
from mlops_devcluster.control_plane import apiserver_command, etcd_command
from mlops_devcluster.kube import resource_path
from mlops_devcluster.kubeconfig import build_kubeconfig
from mlops_devcluster.layout import Layout, state_dir
from mlops_devcluster.pki import ADMIN, Pki, ensure_pki
from mlops_devcluster.pod_logs import PodLogError, find_log
from mlops_devcluster.ports import PortInUseError, Ports, check_ports, free_ports

pytestmark = pytest.mark.unit


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_signs_the_serving_and_client_certificates(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    ensure_pki(pki)
    ca = load(pki.ca_cert)
    server = load(pki.apiserver_cert)
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.96.0.1",
    ]
    admin = load(pki.client_cert(ADMIN))
    admin.verify_directly_issued_by(ca)
    assert (
        admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    )
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert stat.S_IMODE(pki.ca_key.stat().st_mode) == 0o600
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.client_cert(ADMIN)), str(pki.client_key(ADMIN)))


def test_pki_is_made_once(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    ensure_pki(pki)
    before = pki.ca_cert.read_bytes()
    ensure_pki(pki)
    assert pki.ca_cert.read_bytes() == before


def test_kubeconfig_points_at_the_files(tmp_path: Path) -> None:
    document = build_kubeconfig(
        server="https://127.0.0.1:6443",
        ca_file=tmp_path / "ca.crt",
        cert_file=tmp_path / "a.crt",
        key_file=tmp_path / "a.key",
        user="admin",
    )
    parsed = yaml.safe_load(yaml.safe_dump(document))
    assert parsed["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert parsed["users"][0]["user"]["client-key"] == str(tmp_path / "a.key")
    assert parsed["current-context"] == parsed["contexts"][0]["name"]


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_binaries_come_from_assets_then_path_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets, on_path, cache = tmp_path / "assets", tmp_path / "path", tmp_path / "cache"
    make_executable(cache / "etcd")
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.delenv(binaries.ASSETS_ENV, raising=False)
    assert find_binary("etcd", search=(cache,)) == cache / "etcd"
    make_executable(on_path / "etcd")
    assert find_binary("etcd", search=(cache,)) == (on_path / "etcd").resolve()
    make_executable(assets / "etcd")
    monkeypatch.setenv(binaries.ASSETS_ENV, str(assets))
    assert find_binary("etcd", search=(cache,)) == assets / "etcd"
    assert find_binary("kube-scheduler", search=(cache,)) is None


def test_missing_binaries_without_build_say_how_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(binaries.ASSETS_ENV, raising=False)
    with pytest.raises(MissingBinaryError, match=r"KUBEBUILDER_ASSETS.*build-binaries\.sh"):
        resolve_binaries(build=False)


def test_missing_go_says_how_to_provide_the_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(binaries.ASSETS_ENV, raising=False)
    with pytest.raises(MissingBinaryError, match=r"Go is not installed.*set KUBEBUILDER_ASSETS"):
        resolve_binaries(build=True)


def fake_helm(path: Path, version: str) -> Path:
    """A script that answers ``helm version --template '{{.Version}}'`` like helm does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nprintf %s {version}\n")
    path.chmod(0o755)
    return path


def test_helm_on_path_counts_only_at_the_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert binaries.find_helm() is None
    fake_helm(tmp_path / "path" / "helm", "v3.10.0")
    assert binaries.find_helm() is None
    cached = fake_helm(binaries.helm_cache_dir() / "helm", binaries.HELM_VERSION)
    assert binaries.find_helm() == cached
    on_path = fake_helm(tmp_path / "path" / "helm", binaries.HELM_VERSION)
    assert binaries.find_helm() == on_path


def test_missing_helm_says_how_to_provide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MissingBinaryError, match=r"helm v3\.\d+\.\d+ on PATH.*build-helm\.sh"):
        binaries.resolve_helm(build=False)
    with pytest.raises(MissingBinaryError, match=r"Go is not installed.*put helm v3"):
        binaries.resolve_helm(build=True)


def test_bad_minio_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        make_executable(tmp_path / "assets" / name)
    monkeypatch.setenv(binaries.ASSETS_ENV, str(tmp_path / "assets"))
    monkeypatch.setenv(binaries.MINIO_ENV, str(tmp_path / "nope"))
    with pytest.raises(
        MissingBinaryError, match=r"MLOPS_DEVCLUSTER_MINIO=.*nope is not an executable"
    ):
        resolve_binaries(build=False)


def test_a_taken_port_is_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = Ports(**{**free_ports().to_json(), "apiserver": taken})
        with pytest.raises(PortInUseError, match=f"kube-apiserver port {taken} on 127.0.0.1"):
            check_ports(ports)


def test_free_ports_are_distinct() -> None:
    assert len(set(free_ports().to_json().values())) == 5


def fake_binaries(root: Path) -> Binaries:
    return Binaries(*(root / n for n in ("etcd", "apiserver", "cm", "sched", "kubectl", "minio")))


def test_control_plane_listens_on_loopback_with_tls_and_rbac(tmp_path: Path) -> None:
    layout, ports = Layout(tmp_path), Ports()
    apiserver = apiserver_command(
        fake_binaries(tmp_path), layout, ports, service_cidr="198.19.7.0/24"
    )
    assert "--service-cluster-ip-range=198.19.7.0/24" in apiserver
    assert f"--secure-port={ports.apiserver}" in apiserver
    assert "--bind-address=127.0.0.1" in apiserver
    assert "--authorization-mode=Node,RBAC" in apiserver
    assert any(a.startswith("--service-account-signing-key-file=") for a in apiserver)
    assert f"--etcd-servers=https://127.0.0.1:{ports.etcd_client}" in apiserver
    etcd = etcd_command(fake_binaries(tmp_path), layout, ports)
    assert "--client-cert-auth=true" in etcd


def test_state_dir_flag_beats_env_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_DEVCLUSTER_DIR", str(tmp_path / "env"))
    assert state_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert state_dir(None) == tmp_path / "env"
    monkeypatch.delenv("MLOPS_DEVCLUSTER_DIR")
    assert state_dir(None) == Path.home() / ".mlops-devcluster"


def test_logs_find_the_newest_run_and_the_previous_one(tmp_path: Path) -> None:
    folder = Layout(tmp_path).pod_logs / "ml_web_uid1" / "server"
    folder.mkdir(parents=True)
    for run in (0, 1, 10):
        (folder / f"{run}.log").write_text(str(run))
    assert find_log(tmp_path, pod="web", namespace="ml", container=None).name == "10.log"
    assert (
        find_log(tmp_path, pod="web", namespace="ml", container=None, previous=True).name == "1.log"
    )
    with pytest.raises(PodLogError, match="no logs for pod ml/we"):
        find_log(tmp_path, pod="we", namespace="ml", container=None)
    with pytest.raises(PodLogError, match="no container 'x'"):
        find_log(tmp_path, pod="web", namespace="ml", container="x")


def test_cli_registers_under_another_parser_and_reports_a_missing_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="mlops")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["devcluster", "--dir", str(tmp_path), "env"])
    assert args.handler(args) == 1
    assert "no devcluster in" in capsys.readouterr().err
    assert cli.main(["--dir", str(tmp_path), "status"]) == 1
    assert "down" in capsys.readouterr().out


def test_pki_adds_a_missing_certificate_and_keeps_the_ca(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    ensure_pki(pki)
    ca_before = pki.ca_cert.read_bytes()
    admin_before = pki.client_cert(ADMIN).read_bytes()
    pki.kubelet_cert.unlink()
    ensure_pki(pki)
    assert pki.ca_cert.read_bytes() == ca_before
    assert pki.client_cert(ADMIN).read_bytes() == admin_before
    load(pki.kubelet_cert).verify_directly_issued_by(load(pki.ca_cert))


def test_processes_are_tracked_by_pid_file_and_stopped(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "run" / "sleeper.pid", tmp_path / "sleeper.log"
    pid = processes.start(["sleep", "30"], pid_file=pid_file, log_file=log_file)
    assert processes.running_pid(pid_file) == pid
    assert processes.stop(pid_file, grace=5)
    assert not processes.alive(pid)
    assert processes.running_pid(pid_file) is None
    assert not processes.stop(pid_file), "stopping twice finds nothing to stop"


def test_a_pid_file_of_another_program_is_not_trusted(tmp_path: Path) -> None:
    pid_file = tmp_path / "other.pid"
    pid_file.write_text(f"{os.getpid()}\n/usr/bin/not-this-program\n")
    assert processes.running_pid(pid_file) is None


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"api_version": "v1", "plural": "nodes"}, "/api/v1/nodes"),
        (
            {
                "api_version": "v1",
                "plural": "pods",
                "namespace": "ml",
                "name": "p",
                "subresource": "status",
            },
            "/api/v1/namespaces/ml/pods/p/status",
        ),
        (
            {
                "api_version": "coordination.k8s.io/v1",
                "plural": "leases",
                "namespace": "kube-node-lease",
            },
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        ),
    ],
)
def test_resource_paths(kwargs: dict[str, str], path: str) -> None:
    assert resource_path(**kwargs) == path
