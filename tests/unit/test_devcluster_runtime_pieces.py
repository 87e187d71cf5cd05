"""Launch scripts, termination messages, exit codes, probe thresholds and pod addresses."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from mlops_devcluster.agent.addresses import (
    AddressPool,
    cluster_octet,
    pod_addresses_on_lo,
    pod_network,
)
from mlops_devcluster.agent.container import exit_code, termination_message
from mlops_devcluster.agent.hosts import HostsFiles, pod_host_names
from mlops_devcluster.agent.launch import BindMount, launch_argv, launch_script, mount_order
from mlops_devcluster.agent.log_server import parse_log_path, tail_lines
from mlops_devcluster.agent.probes import ProbeTracker, resolve_port
from mlops_devcluster.agent.reporting import build_pod_event
from mlops_devcluster.agent.volumes import VolumeError, container_mounts

pytestmark = pytest.mark.unit


def test_launch_script_mounts_then_execs_the_argv_untouched() -> None:
    script = launch_script(
        hostname="web-1",
        mounts=[
            BindMount(Path("/state/vol"), "/data dir", read_only=True),
            BindMount(Path("/state/msg"), "/dev/termination-log", is_file=True),
        ],
        working_dir="/work",
    )
    assert "exec 3</state/vol 4</state/msg" in script
    assert "mount --no-canonicalize --bind /proc/self/fd/3 '/data dir'" in script
    assert "mount -o remount,bind,ro '/data dir'" in script
    assert "[ -e /dev/termination-log ] || : > /dev/termination-log" in script
    assert "mount --no-canonicalize --bind /proc/self/fd/4 /dev/termination-log" in script
    assert "exec 3<&- 4<&-" in script
    assert script.endswith('exec "$@"')
    argv = launch_argv(script, ["python", "-c", "print('a b')"])
    assert argv[:7] == [
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/bash",
    ]
    assert argv[-3:] == ["python", "-c", "print('a b')"]


def test_sources_are_opened_before_any_mount_can_cover_them() -> None:
    """The state folder under /tmp: mounting an emptyDir at /tmp must not hide later sources."""
    script = launch_script(
        hostname="p",
        mounts=[
            BindMount(Path("/tmp/state/pods/u/volumes/tmp"), "/tmp"),
            BindMount(Path("/tmp/state/pods/u/volumes/config"), "/etc/config", read_only=True),
        ],
        working_dir=None,
    )
    lines = script.splitlines()
    opens = lines.index("exec 3</tmp/state/pods/u/volumes/tmp 4</tmp/state/pods/u/volumes/config")
    first_mount = next(i for i, line in enumerate(lines) if line.startswith("mount "))
    assert opens < first_mount
    assert "/tmp/state" not in "\n".join(lines[opens + 1 :])


def test_mounts_go_parents_first_keeping_the_order_of_equals() -> None:
    mounts = [
        BindMount(Path("/s/a"), "/tmp/cache/models"),
        BindMount(Path("/s/b"), "/tmp/"),
        BindMount(Path("/s/c"), "/dev/shm"),
        BindMount(Path("/s/d"), "/tmp/cache"),
        BindMount(Path("/s/e"), "/etc/hosts", is_file=True),
    ]
    targets = [m.target for m in mount_order(mounts)]
    assert targets == ["/tmp/", "/dev/shm", "/tmp/cache", "/etc/hosts", "/tmp/cache/models"]


def test_launch_script_passes_arguments_through_a_real_shell() -> None:
    script = launch_script(hostname="x", mounts=[], working_dir=None).replace(
        "hostname x 2>/dev/null || true", ":"
    )
    out = subprocess.run(
        ["/bin/bash", "-c", script, "container", "printf", "%s|", "a b", "$HOME", "'q'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "a b|$HOME|'q'|"


def test_exit_codes_of_signals_are_128_plus_the_signal() -> None:
    assert exit_code(0) == 0
    assert exit_code(3) == 3
    assert exit_code(-9) == 137
    assert exit_code(-15) == 143


def test_termination_message_file_wins_and_is_capped(tmp_path: Path) -> None:
    message, log = tmp_path / "m", tmp_path / "log"
    message.write_bytes(b"x" * 5000)
    log.write_text("line\n")
    text = termination_message(message_file=message, log_file=log, policy="File", failed=True)
    assert text == "x" * 4096


def test_fallback_to_logs_only_on_failure(tmp_path: Path) -> None:
    message, log = tmp_path / "m", tmp_path / "log"
    message.write_bytes(b"")
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    policy = "FallbackToLogsOnError"
    tail = termination_message(message_file=message, log_file=log, policy=policy, failed=True)
    assert tail.splitlines()[-1] == "line 99"
    assert len(tail.splitlines()) == 80
    assert (
        termination_message(message_file=message, log_file=log, policy=policy, failed=False) == ""
    )


def test_named_probe_ports_resolve_and_unknown_names_fail() -> None:
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port("http", container) == 8080
    assert resolve_port(9000, container) == 9000
    with pytest.raises(ValueError, match="'grpc' is not a named port of container web"):
        resolve_port("grpc", container)


def test_probe_thresholds() -> None:
    tracker = ProbeTracker(
        {"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 2}, started_at=100.0
    )
    assert not tracker.due(104.0)
    assert tracker.due(105.0)
    tracker.record(False, "refused", now=105.0)
    assert tracker.result is None
    assert not tracker.due(106.0)
    tracker.record(False, "refused", now=107.0)
    assert tracker.result is False
    tracker.record(True, "", now=109.0)
    assert tracker.result is True


def test_address_pool_hands_out_distinct_addresses_and_reuses_released_ones() -> None:
    network = pod_network(7)
    pool = AddressPool(network)
    addresses = [pool.allocate(f"pod-{i}") for i in range(253)]
    assert len(set(addresses)) == 253
    assert all(ipaddress.ip_address(a) in network for a in addresses)
    assert "198.18.7.1" not in addresses, "the range's own address is never a pod's"
    assert pool.allocate("pod-0") == addresses[0], "same owner, same address"
    with pytest.raises(RuntimeError, match="no free pod address"):
        pool.allocate("one-too-many")
    pool.release("pod-5")
    assert pool.allocate("new") == addresses[5]


def test_pod_addresses_on_lo_are_the_range_s_32s_only() -> None:
    shown = (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n"
        "    inet 127.0.0.1/8 scope host lo\n"
        "    inet 198.18.7.1/24 scope global lo\n"
        "    inet 198.18.7.4/32 scope global lo\n"
        "    inet 198.18.8.4/32 scope global lo\n"
        "    inet 198.18.7.9/32 scope global lo\n"
    )
    assert pod_addresses_on_lo(shown, pod_network(7)) == ["198.18.7.4", "198.18.7.9"]
    assert pod_addresses_on_lo("", pod_network(7)) == []


def test_cluster_octet_is_stable_per_folder() -> None:
    first = cluster_octet(Path("/tmp/a"))
    assert first == cluster_octet(Path("/tmp/a"))
    assert 2 <= first <= 254
    assert len({cluster_octet(Path(f"/tmp/{i}")) for i in range(50)}) > 20


def test_hosts_names_follow_hostname_and_subdomain() -> None:
    pod = {
        "metadata": {"name": "train-0-abcde", "namespace": "ml", "uid": "u0"},
        "spec": {"hostname": "train-0", "subdomain": "train"},
    }
    assert pod_host_names(pod) == [
        "train-0.train.ml.svc.cluster.local",
        "train-0.train.ml.svc",
        "train-0.train",
        "train-0",
    ]
    plain = {"metadata": {"name": "web-1", "namespace": "ml", "uid": "u1"}, "spec": {}}
    assert pod_host_names(plain) == ["web-1"]


def test_hosts_file_is_rewritten_in_place(tmp_path: Path) -> None:
    files = HostsFiles(tmp_path)
    first = {"metadata": {"name": "a", "namespace": "ml", "uid": "1"}, "spec": {}}
    second = {"metadata": {"name": "b", "namespace": "ml", "uid": "2"}, "spec": {}}
    path = files.add(first, "198.18.9.2")
    inode = path.stat().st_ino
    files.add(second, "198.18.9.3")
    assert "198.18.9.2\ta\n198.18.9.3\tb\n" in path.read_text()
    files.remove(first)
    assert "\ta\n" not in path.read_text()
    assert path.read_text().startswith("127.0.0.1\tlocalhost\n")
    assert path.stat().st_ino == inode, "bind mounts keep seeing the same file"


def test_log_endpoint_paths_and_tails() -> None:
    assert parse_log_path("/containerLogs/ml/web-1/server?follow=true") == ("ml", "web-1", "server")
    assert parse_log_path("/exec/ml/web-1/server") is None
    assert parse_log_path("/containerLogs/ml/web-1") is None
    data = b"a\nb\nc\n"
    assert tail_lines(data, None) == data
    assert tail_lines(data, 2) == b"b\nc\n"
    assert tail_lines(data, 0) == b""


def test_container_mounts_bind_volumes_subpaths_and_the_hosts_file(tmp_path: Path) -> None:
    volumes = {"data": tmp_path / "data", "config": tmp_path / "config"}
    for folder in volumes.values():
        folder.mkdir()
    (tmp_path / "config" / "app.yaml").write_text("a: 1")
    spec = {
        "name": "main",
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "data", "mountPath": "/cache", "subPath": "cache"},
            {
                "name": "config",
                "mountPath": "/etc/app.yaml",
                "subPath": "app.yaml",
                "readOnly": True,
            },
        ],
    }
    mounts = container_mounts(spec, volumes=volumes, hosts_file=tmp_path / "hosts")
    assert [(m.target, m.read_only, m.is_file) for m in mounts] == [
        ("/etc/hosts", False, True),
        ("/data", False, False),
        ("/cache", False, False),
        ("/etc/app.yaml", True, True),
    ]
    assert (tmp_path / "data" / "cache").is_dir(), "a missing subPath is created"
    with pytest.raises(VolumeError, match="mounts volume 'nope', which the pod does not declare"):
        container_mounts(
            {"name": "main", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]},
            volumes=volumes,
            hosts_file=None,
        )


def test_pod_events_name_the_container_and_the_node() -> None:
    pod = {
        "metadata": {"name": "web-1", "namespace": "ml", "uid": "u1"},
        "spec": {"nodeName": "devcluster-cpu"},
    }
    event = build_pod_event(
        pod,
        reason="Unhealthy",
        message="x" * 2000,
        event_type="Warning",
        container="server",
        stamp="2026-01-01T00:00:00Z",
    )
    assert event["involvedObject"]["fieldPath"] == "spec.containers{server}"
    assert event["source"] == {"component": "kubelet", "host": "devcluster-cpu"}
    assert event["metadata"] == {"generateName": "web-1.", "namespace": "ml"}
    assert len(event["message"]) == 1024
