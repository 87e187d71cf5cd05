"""Queued training on real Kueue, continued: the namespace's default queue, a GPU run placed by
its ResourceFlavor, a distributed run preempted whole, and a status that follows the Workloads
(admission, preemption, queue position) without waiting for the operator's regular look."""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_support import StartOperator, tabular_model, tabular_training_job
from queue_support import KUEUE, admitted_cpu, apply, quotas

from mlops_devcluster.agent.nodes import GPU_PRODUCT_LABEL
from mlops_devcluster.binaries import KueueRelease
from mlops_devcluster.cluster import GPU_NODE, DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import LABEL_KUEUE_QUEUE
from mlops_operator.handlers.training import RESYNC_SECONDS
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: a status change the Workload watch brings must arrive before the regular look would (a chain
#: of operator, Kueue and watch on a busy machine can take several seconds)
PROMPT_S = RESYNC_SECONDS * 2 / 3


def _status(admin: Kube, ns: str, name: str) -> dict[str, Any]:
    return dict((admin.get(API_VERSION, "TrainingJob", name, ns) or {}).get("status") or {})


def _pods(admin: Kube, ns: str, run: str) -> list[dict[str, Any]]:
    return admin.list("v1", "Pod", ns, label_selector=f"mlops.dev/trainingjob={run}")


def _workload(admin: Kube, ns: str, run: str) -> dict[str, Any]:
    (job,) = admin.list("batch/v1", "Job", ns, label_selector=f"mlops.dev/trainingjob={run}")
    (workload,) = admin.list(
        KUEUE, "Workload", ns, label_selector=f"kueue.x-k8s.io/job-uid={job['metadata']['uid']}"
    )
    return workload


def test_a_run_without_queue_takes_the_default_and_a_gpu_run_gets_the_gpu_flavor(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    start_operator: StartOperator,
) -> None:
    ns = training_namespace
    with quotas(devcluster, ns) as made:
        # the flavor's node label is one the run does not ask for: only Kueue puts it there
        made.gpu_node_labels = {GPU_PRODUCT_LABEL: "NVIDIA-H100-80GB-HBM3"}
        made.local_queue(ns, "team", made.cluster_queue("gpu", cpu="2", gpu=1))
        apply(devcluster, made)
        start_operator(MLOPS_DEFAULT_QUEUE="team")
        admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})
        gpu = tabular_training_job("on-gpu", resources={"cpu": "500m", "memory": "1Gi", "gpu": 1})
        admin.create({**gpu, "metadata": {"name": "on-gpu", "namespace": ns}})

        def placed() -> str | None:
            pods = _pods(admin, ns, "on-gpu")
            return pods[0]["spec"].get("nodeName") if pods else None

        assert wait_until(placed, timeout=120, what="the GPU run's pod placed") == GPU_NODE
        (job,) = admin.list("batch/v1", "Job", ns, label_selector="mlops.dev/trainingjob=on-gpu")
        assert job["metadata"]["labels"][LABEL_KUEUE_QUEUE] == "team"  # no spec.queue: default
        node_selector = job["spec"]["template"]["spec"]["nodeSelector"]
        assert node_selector[GPU_PRODUCT_LABEL] == "NVIDIA-H100-80GB-HBM3"  # from the flavor
        (assignment,) = _workload(admin, ns, "on-gpu")["status"]["admission"]["podSetAssignments"]
        assert assignment["flavors"] == {
            "cpu": made.flavor(),
            "memory": made.flavor(),
            "nvidia.com/gpu": made.gpu_flavor(),
        }
        queue = wait_until(
            lambda: _status(admin, ns, "on-gpu").get("queue"), timeout=60, what="queue status"
        )
        assert queue["name"] == "team"


def test_a_distributed_run_is_preempted_whole_and_status_follows_the_workloads(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    start_operator: StartOperator,
) -> None:
    ns = training_namespace
    with quotas(devcluster, ns) as made:
        made.local_queue(ns, "pair", made.cluster_queue("pair", cpu="2", preempt=True))
        low, high = made.priority("low", 10), made.priority("high", 1000)
        apply(devcluster, made)
        start_operator()
        admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})

        def submit(name: str, priority: str, **spec: Any) -> None:
            body = tabular_training_job(name, queue="pair", priorityClass=priority)
            body["spec"].update(spec)
            admin.create({**body, "metadata": {"name": name, "namespace": ns}})

        one_cpu = {"cpu": "1", "memory": "512Mi"}
        # every run here trains for longer than the test looks at it: a run that finished
        # would free quota and move the others (its place taken by the next one)
        long_training = {"epochs": 30, "batchSize": 4, "earlyStopping": {"enabled": False}}
        submit(
            "ddp",
            low,
            workers=2,
            resources=one_cpu,
            model={"architecture": "mlp", "hiddenSizes": [16]},
            training={"epochs": 40, "batchSize": 4, "earlyStopping": {"enabled": False}},
        )

        def both_running() -> bool:
            pods = _pods(admin, ns, "ddp")
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            return len(running) == 2

        wait_until(both_running, timeout=180, what="both DDP workers running")
        submit("waiter-1", low, resources=one_cpu, training=long_training)
        # Kueue orders runs of one priority by creation time, in whole seconds, then by the
        # Workload's uid (random): a second apart, the waiters' order is waiter-1 first
        time.sleep(1.1)
        submit("waiter-2", low, resources=one_cpu, training=long_training)

        def position(name: str) -> Any:
            return (_status(admin, ns, name).get("queue") or {}).get("position")

        def positions() -> tuple[Any, Any]:
            return position("waiter-1"), position("waiter-2")

        try:
            wait_until(lambda: positions() == (1, 2), timeout=PROMPT_S, what="the positions")
        except TimeoutError as error:
            raise AssertionError(f"(waiter-1, waiter-2) at {positions()}: {error}") from error

        submit("urgent", high, resources=one_cpu, training=long_training)
        # Kueue evicts the DDP Workload whole: one 1-cpu run frees both workers' 2 cpu, so
        # urgent and the first waiter are admitted
        evicted_at = 0.0

        def evicted() -> bool:
            nonlocal evicted_at
            counts = (_workload(admin, ns, "ddp").get("status") or {}).get("schedulingStats")
            if counts and (counts.get("evictions") or []):
                evicted_at = time.monotonic()
                return True
            return False

        wait_until(evicted, timeout=60, what="the DDP Workload evicted")
        wait_until(
            lambda: int((_status(admin, ns, "ddp").get("queue") or {}).get("preemptions", 0)) >= 1,
            timeout=PROMPT_S,
            what="the preemption in the DDP run's status",
        )

        def admitted(run: str) -> bool:
            conditions = (_workload(admin, ns, run).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Admitted" and c["status"] == "True" for c in conditions)

        # the first waiter is admitted once the DDP workers have stopped (their checkpoint may
        # take a while on a busy machine). Kueue keeps a preempted run's place in the queue (it
        # orders by creation time, also after a preemption), so the DDP run is first again and
        # the second waiter behind it; the statuses follow within two thirds of the periodic look,
        # so through the Workload watch
        wait_until(lambda: admitted("waiter-1"), timeout=120, what="waiter-1 admitted")
        admitted_at = time.monotonic()

        def places() -> tuple[Any, Any, Any]:
            return position("ddp"), position("waiter-1"), position("waiter-2")

        try:
            wait_until(lambda: places() == (1, None, 2), timeout=PROMPT_S, what="the positions")
        except TimeoutError as error:
            runs = {run: _status(admin, ns, run) for run in ("ddp", "waiter-1", "waiter-2")}
            raise AssertionError(
                f"(ddp, waiter-1, waiter-2) at {places()}: {error}; {runs}"
            ) from error
        assert time.monotonic() - admitted_at < RESYNC_SECONDS
        assert evicted_at > 0

        def ddp_stopped() -> bool:
            pods = _pods(admin, ns, "ddp")
            return not any((p.get("status") or {}).get("phase") == "Running" for p in pods)

        wait_until(ddp_stopped, timeout=60, what="both DDP workers stopped")
        status = _status(admin, ns, "ddp")
        assert status["phase"] == "Queued", status
        (reconciling,) = [c for c in status["conditions"] if c["type"] == "Reconciling"]
        assert reconciling["status"] == "True", status
        assert reconciling["message"].startswith("preempted; waiting in queue pair"), status
        workloads = admin.list(KUEUE, "Workload", ns)
        assert sum(admitted_cpu(workloads).values()) <= 2000, workloads
        ddp = _workload(admin, ns, "ddp")
        assert [p["count"] for p in ddp["spec"]["podSets"]] == [2]  # one gang of two
        table = devcluster.kubectl("get", "tj", "-n", ns).stdout
        assert "POSITION" in table.splitlines()[0], table
