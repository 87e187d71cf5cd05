"""The simulated nodes, their status and leases."""

from __future__ import annotations

import pytest

from mlops_devcluster.agent.nodes import (
    GPU_RESOURCE,
    NodeSpec,
    build_lease,
    build_node,
    build_node_status,
    default_nodes,
)

pytestmark = pytest.mark.unit


def test_default_nodes_are_one_cpu_and_one_gpu_node() -> None:
    cpu, gpu = default_nodes()
    assert (cpu.name, cpu.is_gpu) == ("devcluster-cpu", False)
    assert (gpu.name, gpu.is_gpu) == ("devcluster-gpu", True)


def test_gpu_node_is_labelled_tainted_and_has_gpu_capacity() -> None:
    spec = NodeSpec(name="g", gpus=2, gpu_product="NVIDIA-A100-SXM4-80GB")
    node = build_node(spec)
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert node["spec"]["taints"] == [{"key": GPU_RESOURCE, "effect": "NoSchedule"}]
    status = build_node_status(spec, stamp="2026-01-01T00:00:01Z", since="2026-01-01T00:00:00Z")
    assert status["capacity"][GPU_RESOURCE] == "2"
    assert status["allocatable"][GPU_RESOURCE] == "2"


def test_cpu_node_has_no_gpu_label_taint_or_capacity() -> None:
    spec = NodeSpec(name="c")
    node = build_node(spec)
    assert "nvidia.com/gpu.present" not in node["metadata"]["labels"]
    assert node["spec"]["taints"] == []
    status = build_node_status(spec, stamp="t1", since="t0")
    assert GPU_RESOURCE not in status["capacity"]


def test_status_is_ready_with_a_fresh_heartbeat_and_a_stable_transition() -> None:
    status = build_node_status(NodeSpec(name="c"), stamp="t1", since="t0")
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["lastHeartbeatTime"], ready["lastTransitionTime"]) == (
        "True",
        "t1",
        "t0",
    )
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]


def test_lease_is_owned_by_its_node() -> None:
    lease = build_lease("c", node_uid="uid-1", renew_time="2026-01-01T00:00:00.000000Z")
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert lease["spec"]["holderIdentity"] == "c"
