"""Controller faults: the operator SIGKILLed at random points while flows run, and the API
server with etcd restarted in the middle of a flow. Every flow converges, no run is lost and
no child is created twice, with no manual step."""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable

import pytest
from e2e_support import StartOperator
from flows import FLOWS, Flow, Verdict
from reliability_support import RESTRICTED_LABELS, Figures, Scale

from mlops_devcluster import components, lifecycle, processes
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.layout import DIR_ENV
from mlops_devcluster.local_operator import copy_s3_secret
from mlops_operator.kube import Kube

pytestmark = pytest.mark.reliability

#: longest a batch of flows may take to converge after its last fault
CONVERGE_TIMEOUT = 600.0


def _namespace(devcluster: DevCluster, admin: Kube) -> str:
    name = f"rel-{secrets.token_hex(4)}"
    devcluster.kubectl("create", "namespace", name)
    # every trainer pod of these flows is admitted under the restricted profile
    devcluster.kubectl("label", "namespace", name, *RESTRICTED_LABELS)
    copy_s3_secret(admin, name)
    return name


def _until(check: Callable[[], bool], *, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - start


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_operator_killed_at_random_points_loses_and_duplicates_nothing(
    flow: Flow,
    devcluster: DevCluster,
    admin: Kube,
    start_operator: StartOperator,
    scale: Scale,
    figures: Figures,
) -> None:
    chance = random.Random(scale.killed_flows)
    total = Verdict(flows=0)
    kills = 0
    slowest = 0.0
    remaining = scale.killed_flows
    operator = start_operator()
    while remaining:
        count = min(scale.flows_at_once, remaining)
        remaining -= count
        ns = _namespace(devcluster, admin)
        names = flow.create(devcluster, ns, count)
        started = time.monotonic()
        # kill it at random points until the batch has converged: while it picks versions,
        # creates Jobs, waits on trainers, registers versions
        while not flow.converged(admin, ns, names):
            if time.monotonic() - started > CONVERGE_TIMEOUT:
                break
            time.sleep(chance.uniform(0.2, 6.0))
            operator.kill()
            kills += 1
            if chance.random() < 0.3:
                time.sleep(chance.uniform(1.0, 5.0))  # down for a while: events pile up
            operator = start_operator()
        slowest = max(slowest, time.monotonic() - started)
        verdict = flow.verdict(admin, ns, names)
        total.flows += verdict.flows
        total.converged += verdict.converged
        total.lost += verdict.lost
        total.duplicated += verdict.duplicated

    section = f"Controller faults: {flow.name}"
    figures.record(section, "flows", total.flows)
    figures.record(section, "operator SIGKILLs", kills)
    figures.record(
        section,
        "flows converged",
        total.converged,
        target=f"{total.flows}",
        met=total.converged == total.flows,
        worse="lower",
    )
    figures.record(section, "runs lost", len(total.lost), target="0", met=not total.lost)
    figures.record(
        section, "children duplicated", len(total.duplicated), target="0", met=not total.duplicated
    )
    figures.record(section, "slowest batch to converge (s)", round(slowest, 1))
    assert kills >= 1
    assert not total.duplicated, total.duplicated
    assert not total.lost, total.lost
    assert total.converged == total.flows


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_control_plane_restarted_mid_flow_converges_unattended(
    flow: Flow,
    devcluster: DevCluster,
    admin: Kube,
    start_operator: StartOperator,
    scale: Scale,
    figures: Figures,
) -> None:
    if os.environ.get(DIR_ENV):
        pytest.skip(f"${DIR_ENV} names a shared devcluster: its control plane is not restarted")
    # The bounded form restarts it once, under one flow: the node agent loses a pod that it
    # is starting when the API server goes away (a gap of the devcluster's agent, not of the
    # operator), so the restart waits until every trainer pod of the namespace runs.
    at_once = 2 if scale.name == "full" else 1
    start_operator()
    total = Verdict(flows=0)
    worst = 0.0
    for _ in range(scale.control_plane_restarts):
        ns = _namespace(devcluster, admin)
        names = flow.create(devcluster, ns, at_once)
        # while the trainers run (and report progress through the API server)
        _until(
            lambda ns=ns: _all_trainers_running(admin, ns, at_once),
            timeout=300,
            what="the trainer pods running",
        )
        for name in (components.APISERVER, components.ETCD):
            processes.stop(devcluster.layout.pid_file(name))
        time.sleep(2.0)
        lifecycle.up(devcluster.root, timeout=120)  # starts what is not running, as a reboot
        restarted = time.monotonic()
        try:
            _until(
                lambda ns=ns, names=names: flow.converged(admin, ns, names),
                timeout=CONVERGE_TIMEOUT,
                what="the flows",
            )
        except TimeoutError:
            worst = max(worst, CONVERGE_TIMEOUT)
        else:
            worst = max(worst, time.monotonic() - restarted)
        verdict = flow.verdict(admin, ns, names)
        total.flows += verdict.flows
        total.converged += verdict.converged
        total.lost += verdict.lost
        total.duplicated += verdict.duplicated

    section = f"Controller faults: {flow.name}"
    figures.record(section, "API server + etcd restarts mid-flow", scale.control_plane_restarts)
    figures.record(
        section,
        "flows converged after a restart, unattended",
        total.converged,
        target=f"{total.flows}",
        met=total.converged == total.flows,
        worse="lower",
    )
    figures.record(
        section,
        "runs lost or duplicated after a restart",
        len(total.lost) + len(total.duplicated),
        target="0",
        met=not total.lost and not total.duplicated,
    )
    figures.record(section, "slowest convergence after a restart (s)", round(worst, 1))
    assert not total.duplicated, total.duplicated
    assert not total.lost, total.lost
    assert total.converged == total.flows


def _all_trainers_running(admin: Kube, namespace: str, count: int) -> bool:
    pods = admin.list("v1", "Pod", namespace)
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    return len(running) >= count and len(running) == len(pods)
