"""Service routing's pure pieces: Service and EndpointSlice reading, the endpoint choice, the
route plan and the hosts file names, the Service range."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from mlops_devcluster.agent.addresses import cluster_octet, pod_network, service_network
from mlops_devcluster.agent.hosts import HostsFiles, ServiceAddresses, service_entries
from mlops_devcluster.agent.service_routing import route_plan
from mlops_devcluster.agent.services import (
    Backend,
    Listen,
    RoundRobin,
    ServicePort,
    ServiceView,
    ready_addresses,
    ready_backends,
)
from mlops_devcluster.binaries import Binaries
from mlops_devcluster.cluster import LEGACY_SERVICE_CIDR, ClusterConfig
from mlops_devcluster.pki import kubernetes_service_ip
from mlops_devcluster.ports import Ports

pytestmark = pytest.mark.unit
Object = dict[str, Any]


def service(name: str, cluster_ip: str, *ports: tuple[str, int], ns: str = "ml") -> Object:
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
        },
    }


def endpoint_slice(ports: dict[str, int], endpoints: dict[str, bool | None]) -> Object:
    return {
        "addressType": "IPv4",
        "ports": [{"name": n, "port": p} for n, p in ports.items()],
        "endpoints": [
            {"addresses": [a], "conditions": {} if ready is None else {"ready": ready}}
            for a, ready in endpoints.items()
        ],
    }


def test_service_view_reads_cluster_ip_headless_and_tcp_ports() -> None:
    view = ServiceView.from_object(service("web", "198.19.3.10", ("http", 80), ("", 9000)))
    assert view == ServiceView(
        "ml", "web", "198.19.3.10", (ServicePort("http", 80), ServicePort("", 9000))
    )
    headless = ServiceView.from_object(service("peers", "None", ("", 29500)))
    assert headless == ServiceView("ml", "peers", None, (ServicePort("", 29500),))
    udp = service("dns", "198.19.3.11", ("dns", 53))
    udp["spec"]["ports"][0]["protocol"] = "UDP"
    assert ServiceView.from_object(udp) == ServiceView("ml", "dns", "198.19.3.11", ())
    external = {"metadata": {"namespace": "ml", "name": "x"}, "spec": {"type": "ExternalName"}}
    assert ServiceView.from_object(external) is None


def test_ready_backends_follow_readiness_and_the_port_of_each_slice() -> None:
    slices = [
        endpoint_slice({"http": 8080, "metrics": 9090}, {"198.18.3.5": True, "198.18.3.6": False}),
        endpoint_slice({"http": 8081}, {"198.18.3.7": None}),
    ]
    assert ready_backends(slices, "http") == [
        Backend("198.18.3.5", 8080),
        Backend("198.18.3.7", 8081),
    ]
    assert ready_backends(slices, "metrics") == [Backend("198.18.3.5", 9090)]
    assert ready_backends(slices, "grpc") == []
    assert ready_addresses(slices) == ["198.18.3.5", "198.18.3.7"]


def test_round_robin_starts_one_further_each_time_and_keeps_the_rest_as_fallbacks() -> None:
    backends = [Backend("a", 1), Backend("b", 1), Backend("c", 1)]
    choice = RoundRobin()
    orders = [choice.order(backends) for _ in range(4)]
    assert [o[0].address for o in orders] == ["a", "b", "c", "a"]
    assert [b.address for b in orders[1]] == ["b", "c", "a"]
    assert choice.order([]) == []


def test_route_plan_listens_on_cluster_ips_and_resolves_headless_names_to_endpoints() -> None:
    services = {
        ("ml", "web"): ServiceView("ml", "web", "198.19.3.10", (ServicePort("http", 80),)),
        ("ml", "peers"): ServiceView("ml", "peers", None, (ServicePort("", 29500),)),
        ("default", "kubernetes"): ServiceView(
            "default", "kubernetes", "198.19.3.1", (ServicePort("https", 443),)
        ),
    }
    slices = {
        ("ml", "web"): [endpoint_slice({"http": 8080}, {"198.18.3.5": True, "198.18.3.6": False})],
        ("ml", "peers"): [endpoint_slice({"": 29500}, {"198.18.3.8": True, "198.18.3.9": None})],
    }
    plan = route_plan(services, slices, api_server=Backend("127.0.0.1", 36443))
    assert plan.routes == {
        Listen("198.19.3.10", 80): [Backend("198.18.3.5", 8080)],
        Listen("198.19.3.1", 443): [Backend("127.0.0.1", 36443)],
    }
    assert plan.names == [
        ServiceAddresses("default", "kubernetes", ["198.19.3.1"]),
        ServiceAddresses("ml", "peers", ["198.18.3.8", "198.18.3.9"]),
        ServiceAddresses("ml", "web", ["198.19.3.10"]),
    ]


def test_service_names_are_qualified_everywhere_and_bare_only_in_their_namespace() -> None:
    services = [ServiceAddresses("ml", "web", ["198.19.3.10"])]
    assert service_entries(services, "ml") == [
        ("198.19.3.10", ["web.ml.svc.cluster.local", "web.ml.svc", "web.ml", "web"])
    ]
    assert service_entries(services, "apps") == [
        ("198.19.3.10", ["web.ml.svc.cluster.local", "web.ml.svc", "web.ml"])
    ]


def test_hosts_files_list_pods_and_services_and_drop_deleted_services(tmp_path: Path) -> None:
    hosts = HostsFiles(tmp_path)
    pod = {"metadata": {"namespace": "apps", "name": "client", "uid": "u1"}, "spec": {}}
    path = hosts.add(pod, "198.18.3.20")
    hosts.set_services([ServiceAddresses("ml", "web", ["198.19.3.10"])])
    text = path.read_text()
    assert "198.18.3.20\tclient\n" in text
    assert "198.19.3.10\tweb.ml.svc.cluster.local web.ml.svc web.ml\n" in text
    inode = path.stat().st_ino
    hosts.set_services([])
    assert "web.ml" not in path.read_text()
    assert path.stat().st_ino == inode  # rewritten in place, so bind mounts see it


def test_a_service_name_wins_over_a_pod_hostname(tmp_path: Path) -> None:
    hosts = HostsFiles(tmp_path)
    pod = {"metadata": {"namespace": "ml", "name": "web", "uid": "u1"}, "spec": {}}
    path = hosts.add(pod, "198.18.3.20")
    assert "198.18.3.20\tweb\n" in path.read_text()
    hosts.set_services([ServiceAddresses("ml", "web", ["198.19.3.10"])])
    assert "198.18.3.20" not in path.read_text()
    assert "198.19.3.10\tweb.ml.svc.cluster.local web.ml.svc web.ml web\n" in path.read_text()


def test_each_cluster_has_its_own_service_range_beside_its_pod_range(tmp_path: Path) -> None:
    octet = cluster_octet(tmp_path)
    network = service_network(octet)
    assert network.subnet_of(ipaddress.IPv4Network("198.18.0.0/15"))
    assert not network.overlaps(pod_network(octet))
    assert kubernetes_service_ip(str(network)) == f"198.19.{octet}.1"


def test_a_config_from_before_service_ranges_keeps_the_legacy_range(tmp_path: Path) -> None:
    binaries = Binaries(*(tmp_path / n for n in ("etcd", "api", "cm", "sched", "kubectl", "mc")))
    config = ClusterConfig(Ports(), binaries, "k", "s", service_cidr="198.19.7.0/24")
    data = config.to_json()
    assert ClusterConfig.from_json(data) == config
    del data["serviceCidr"]
    assert ClusterConfig.from_json(data).service_cidr == LEGACY_SERVICE_CIDR


def test_a_cluster_asked_for_thousands_of_services_gets_a_range_that_holds_them(
    tmp_path: Path,
) -> None:
    octet = cluster_octet(tmp_path)
    assert service_network(octet, services=254) == service_network(octet)
    large = service_network(octet, services=2064)
    assert large.num_addresses - 2 >= 2064
    assert large.subnet_of(ipaddress.IPv4Network("198.19.0.0/16"))
    assert service_network(octet).subnet_of(large)
    assert not large.overlaps(pod_network(octet))
