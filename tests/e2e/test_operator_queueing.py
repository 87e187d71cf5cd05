"""Queued training on real Kueue: quotas shared in a cohort, priorities, preemption with
resume, distributed runs admitted whole, and runs that can never fit."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import StartOperator, s3_client_of, tabular_model, tabular_training_job
from queue_support import admitted_cpu, apply, cpu_millis, quotas

from mlops_core.artifact import MANIFEST_FILE, WEIGHTS_FILE, parse_manifest
from mlops_devcluster.binaries import KueueRelease
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import copy_s3_secret, wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

KUEUE = "kueue.x-k8s.io/v1beta2"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "queueing"


@pytest.fixture
def second_namespace(admin: Kube, devcluster: DevCluster) -> Iterator[str]:
    name = f"test-{secrets.token_hex(4)}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    copy_s3_secret(admin, name)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _runs(admin: Kube, *namespaces: str) -> list[dict[str, Any]]:
    return [tj for ns in namespaces for tj in admin.list(API_VERSION, "TrainingJob", ns)]


def _phase(tj: dict[str, Any]) -> str:
    return str((tj.get("status") or {}).get("phase") or "")


def _condition(tj: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in (tj.get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return dict(condition)
    return {}


#: how long past its grace period a deleted pod may take to stop on a busy machine
STOP_SLACK_S = 15


class TrainerCpu:
    """The CPU requested by running trainer pods in some namespaces, sampled again and again.

    A pod being deleted (a preempted run's, checkpointing within its grace period) is not
    counted: Kueue frees a run's quota once its Job has no active pods, and the Job controller
    counts no terminating pod as active, so the next run may start while it stops. Instead,
    every such pod must stop within its grace period."""

    def __init__(self, admin: Kube, *namespaces: str) -> None:
        self._admin, self._namespaces = admin, namespaces
        self._deleted_at: dict[str, float] = {}

    def sample(self) -> int:
        total, now = 0, time.monotonic()
        for ns in self._namespaces:
            for pod in self._admin.list("v1", "Pod", ns):
                if (pod.get("status") or {}).get("phase") != "Running":
                    continue
                meta = pod["metadata"]
                if meta.get("deletionTimestamp"):
                    since = self._deleted_at.setdefault(meta["uid"], now)
                    grace = int(pod["spec"].get("terminationGracePeriodSeconds") or 30)
                    assert now - since <= grace + STOP_SLACK_S, (
                        f"pod {meta['name']} still running {now - since:.0f} s after deletion"
                    )
                    continue
                for container in pod["spec"]["containers"]:
                    total += cpu_millis(container["resources"]["requests"]["cpu"])
        return total


def test_runs_share_quota_in_a_cohort_never_over_it_and_high_priority_goes_first(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    second_namespace: str,
    start_operator: StartOperator,
) -> None:
    """examples/queueing: two teams' ClusterQueues (2 cpu each) lending to each other in one
    cohort; ten runs; the example's high-priority run submitted last."""
    team_a, team_b = training_namespace, second_namespace
    setup = (EXAMPLES / "kueue-setup.yaml").read_text()
    devcluster.kubectl("apply", "-f", "-", input=setup)
    try:
        devcluster.kubectl("apply", "-n", team_a, "-f", str(EXAMPLES / "localqueue.yaml"))
        team_b_queue = yaml.safe_load((EXAMPLES / "localqueue.yaml").read_text())
        team_b_queue["spec"]["clusterQueue"] = "ml-team-b"
        devcluster.kubectl("apply", "-n", team_b, "-f", "-", input=yaml.safe_dump(team_b_queue))
        operator = start_operator()
        for ns in (team_a, team_b):
            model = {**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}}
            admin.create(model)

        def run(ns: str, name: str) -> None:
            body = tabular_training_job(
                name,
                queue="team",
                priorityClass="ml-low",
                resources={"cpu": "1", "memory": "512Mi"},
                training={"epochs": 2, "batchSize": 64},
            )
            admin.create({**body, "metadata": {"name": name, "namespace": ns}})

        for i in range(6):
            run(team_a, f"low-{i}")
        for i in range(3):
            run(team_b, f"b-{i}")
        urgent = yaml.safe_load((EXAMPLES / "trainingjob.yaml").read_text())
        devcluster.kubectl("apply", "-n", team_a, "-f", "-", input=yaml.safe_dump(urgent))
        urgent_name = urgent["metadata"]["name"]
        # the operator dies while runs wait in the queue; its successor creates nothing twice
        wait_until(
            lambda: any(_phase(tj) == "Queued" for tj in _runs(admin, team_a, team_b)),
            timeout=60,
            what="a run to be Queued",
        )
        operator.kill()
        start_operator()

        admitted_at: dict[str, float] = {}
        peak_admitted, seen_queued = 0, False
        trainer_cpu = TrainerCpu(admin, team_a, team_b)
        deadline = time.monotonic() + 480
        while True:
            workloads = [w for ns in (team_a, team_b) for w in admin.list(KUEUE, "Workload", ns)]
            used = sum(admitted_cpu(workloads).values())
            peak_admitted = max(peak_admitted, used)
            assert used <= 4000, workloads  # the cohort's whole quota
            pods = trainer_cpu.sample()
            assert pods <= 4000, pods
            runs = _runs(admin, team_a, team_b)
            for tj in runs:
                queue = (tj.get("status") or {}).get("queue") or {}
                if queue.get("admitted"):
                    admitted_at.setdefault(tj["metadata"]["name"], time.monotonic())
                if _phase(tj) == "Queued" and not queue.get("preemptions"):
                    seen_queued = True
                    assert _condition(tj, "Reconciling").get("status") == "True", tj["status"]
                    assert _condition(tj, "Stalled").get("status") == "False", tj["status"]
            if len(runs) == 10 and all(_phase(tj) in ("Succeeded", "Failed") for tj in runs):
                break
            assert time.monotonic() < deadline, [(t["metadata"]["name"], _phase(t)) for t in runs]
            time.sleep(1.0)

        assert seen_queued
        assert peak_admitted > 2000  # a team borrowed what the other left idle
        assert all(_phase(tj) == "Succeeded" for tj in runs), [t["status"] for t in runs]
        assert all(tj["status"].get("modelVersion") for tj in runs)
        for ns, count in ((team_a, 7), (team_b, 3)):
            assert len(admin.list("batch/v1", "Job", ns)) == count  # none twice
            assert len(admin.list(API_VERSION, "ModelVersion", ns)) == count
        # the high-priority run, submitted last, was admitted before low ones submitted earlier
        later = [
            n
            for n, t in admitted_at.items()
            if n.startswith("low-") and t > admitted_at[urgent_name]
        ]
        assert later, admitted_at
        table = devcluster.kubectl("get", "tj", "-n", team_a).stdout
        assert "QUEUE" in table.splitlines()[0]
    finally:
        devcluster.kubectl(
            "delete", "--ignore-not-found", "--wait=false", "-f", "-", input=setup, check=False
        )


def _manifest_weights(devcluster: DevCluster, uri: str) -> str:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    raw = s3_client_of(devcluster).get_object(
        Bucket=bucket, Key=f"{prefix.rstrip('/')}/{MANIFEST_FILE}"
    )
    return parse_manifest(raw["Body"].read()).entry(WEIGHTS_FILE).sha256


def _trainer_logs(devcluster: DevCluster, namespace: str) -> str:
    return "\n".join(
        path.read_text(errors="replace")
        for path in devcluster.layout.pod_logs.glob(f"{namespace}_*/**/*")
        if path.is_file()
    )


def test_preempted_run_resumes_at_its_step_and_ends_with_an_uninterrupted_runs_parameters(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    start_operator: StartOperator,
) -> None:
    ns = training_namespace
    long_training = {
        "epochs": 30,
        "batchSize": 4,
        "seed": 11,
        "earlyStopping": {"enabled": False},
        "checkpointInterval": 10,
    }
    with quotas(devcluster, ns) as made:
        solo = made.cluster_queue("solo", cpu="1", preempt=True)
        made.local_queue(ns, "solo", solo)
        low, high = made.priority("low", 10), made.priority("high", 1000)
        apply(devcluster, made)
        start_operator()
        admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})
        spec = {
            "model": {"architecture": "mlp", "hiddenSizes": [16], "dropout": 0.2},
            "resources": {"cpu": "1", "memory": "1Gi"},
            "training": long_training,
        }
        body = tabular_training_job("long", queue="solo", priorityClass=low)
        body["spec"].update(spec)
        admin.create({**body, "metadata": {"name": "long", "namespace": ns}})

        def training() -> bool:
            tj = admin.get(API_VERSION, "TrainingJob", "long", ns) or {}
            progress = (tj.get("status") or {}).get("progress") or {}
            return int(progress.get("epoch") or 0) >= 2

        wait_until(training, timeout=180, what="the long run to train")
        quick = tabular_training_job("quick", queue="solo", priorityClass=high)
        quick["spec"]["resources"] = {"cpu": "1", "memory": "512Mi"}
        admin.create({**quick, "metadata": {"name": "quick", "namespace": ns}})

        def preempted() -> dict[str, Any] | None:
            tj = admin.get(API_VERSION, "TrainingJob", "long", ns) or {}
            queue = (tj.get("status") or {}).get("queue") or {}
            return tj if queue.get("preemptions", 0) >= 1 else None

        wait_until(preempted, timeout=120, what="the long run to be preempted")

        def done(name: str) -> dict[str, Any] | None:
            tj = admin.get(API_VERSION, "TrainingJob", name, ns) or {}
            return tj if _phase(tj) in ("Succeeded", "Failed") else None

        assert _phase(wait_until(lambda: done("quick"), timeout=180, what="quick")) == "Succeeded"
        final = wait_until(lambda: done("long"), timeout=300, what="the long run to finish")
        status = final["status"]
        assert status["phase"] == "Succeeded", status
        assert status["queue"]["preemptions"] >= 1
        (entry, *_) = status["queue"]["preemptionHistory"]
        assert entry["reason"] == "Preempted"
        job = admin.list("batch/v1", "Job", ns, label_selector="mlops.dev/trainingjob=long")[0]
        assert int((job.get("status") or {}).get("failed") or 0) == 0  # no retry used

        logs = _trainer_logs(devcluster, ns)
        stops = re.findall(r"stopped on SIGTERM at epoch (\d+), step (\d+)", logs)
        resumes = re.findall(r"interrupted checkpoint at epoch (\d+), step (\d+)", logs)
        assert stops, logs[-2000:]
        assert resumes == stops  # every stop resumed at its very step: 0 steps trained twice

        reference = tabular_training_job("reference")
        reference["spec"].update(spec)
        admin.create({**reference, "metadata": {"name": "reference", "namespace": ns}})
        ref = wait_until(lambda: done("reference"), timeout=300, what="the reference run")
        assert ref["status"]["phase"] == "Succeeded"
        assert _manifest_weights(devcluster, status["artifact"]["uri"]) == _manifest_weights(
            devcluster, ref["status"]["artifact"]["uri"]
        )


def test_distributed_run_is_admitted_whole_and_a_run_that_never_fits_is_stalled(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    start_operator: StartOperator,
) -> None:
    ns = training_namespace
    with quotas(devcluster, ns) as made:
        small = made.cluster_queue("small", cpu="2")
        made.local_queue(ns, "small", small)
        apply(devcluster, made)
        start_operator()
        admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})
        ddp = tabular_training_job("ddp", queue="small", workers=2)
        ddp["spec"]["resources"] = {"cpu": "1", "memory": "512Mi"}
        admin.create({**ddp, "metadata": {"name": "ddp", "namespace": ns}})
        too_big = tabular_training_job("too-big", queue="small", workers=3)
        too_big["spec"]["resources"] = {"cpu": "1", "memory": "512Mi"}
        admin.create({**too_big, "metadata": {"name": "too-big", "namespace": ns}})
        missing = tabular_training_job("nowhere", queue="no-such-queue")
        admin.create({**missing, "metadata": {"name": "nowhere", "namespace": ns}})

        def stalled(name: str) -> dict[str, Any] | None:
            tj = admin.get(API_VERSION, "TrainingJob", name, ns) or {}
            return tj if _condition(tj, "Stalled").get("status") == "True" else None

        deadline = time.monotonic() + 300
        while True:
            pods = admin.list("v1", "Pod", ns, label_selector="mlops.dev/trainingjob=ddp")
            active = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            if active:  # a worker runs only once Kueue admitted the quota of both
                workloads = [
                    w for w in admin.list(KUEUE, "Workload", ns) if "ddp" in w["metadata"]["name"]
                ]
                assert workloads
                assert sum(admitted_cpu(workloads).values()) == 2000, workloads
            tj = admin.get(API_VERSION, "TrainingJob", "ddp", ns) or {}
            if _phase(tj) in ("Succeeded", "Failed"):
                break
            assert time.monotonic() < deadline, tj.get("status")
            time.sleep(0.5)
        assert _phase(tj) == "Succeeded", tj["status"]
        (workload,) = [
            w for w in admin.list(KUEUE, "Workload", ns) if "ddp" in w["metadata"]["name"]
        ]
        assert [p["count"] for p in workload["spec"]["podSets"]] == [2]

        big = wait_until(lambda: stalled("too-big"), timeout=120, what="too-big to be Stalled")
        assert big["status"]["phase"] == "Queued"
        assert _condition(big, "Stalled")["reason"] == "ExceedsQueueQuota"
        nowhere = wait_until(lambda: stalled("nowhere"), timeout=120, what="nowhere Stalled")
        assert _condition(nowhere, "Stalled")["reason"] == "QueueNotFound"
        assert "no-such-queue" in _condition(nowhere, "Stalled")["message"]
        # nothing runs outside the queue: both Jobs wait suspended
        for name in ("too-big", "nowhere"):
            (job,) = admin.list(
                "batch/v1", "Job", ns, label_selector=f"mlops.dev/trainingjob={name}"
            )
            assert job["spec"]["suspend"] is True
        # fixed: the queue now exists, and the run starts by itself
        made.local_queue(ns, "no-such-queue", small)
        apply(devcluster, made)

        def finished() -> dict[str, Any] | None:
            tj = admin.get(API_VERSION, "TrainingJob", "nowhere", ns) or {}
            return tj if _phase(tj) in ("Succeeded", "Failed") else None

        fixed = wait_until(finished, timeout=240, what="the fixed run to finish")
        assert _phase(fixed) == "Succeeded", fixed["status"]


def test_experiment_queues_its_trials_and_runs_exactly_max_trials_within_quota(
    devcluster: DevCluster,
    kueue: KueueRelease,
    admin: Kube,
    training_namespace: str,
    start_operator: StartOperator,
) -> None:
    """examples/queueing/experiment.yaml with parallelTrials 4 on a queue of 2 cpu."""
    ns = training_namespace
    with quotas(devcluster, ns) as made:
        made.local_queue(ns, "team", made.cluster_queue("two-cpu", cpu="2"))
        made.priority("unused", 1)
        apply(devcluster, made)
        start_operator()
        admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})
        experiment = yaml.safe_load((EXAMPLES / "experiment.yaml").read_text())
        experiment["spec"]["trialTemplate"].pop("priorityClass")
        experiment["spec"]["maxTrials"] = 4
        assert experiment["spec"]["parallelTrials"] == 4
        devcluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(experiment))
        name = experiment["metadata"]["name"]

        most_queued, deadline = 0, time.monotonic() + 420
        trainer_cpu = TrainerCpu(admin, ns)
        while True:
            assert trainer_cpu.sample() <= 2000
            body = admin.get(API_VERSION, "Experiment", name, ns) or {}
            status = body.get("status") or {}
            most_queued = max(most_queued, int(status.get("trialsQueued") or 0))
            if status.get("phase") in ("Succeeded", "Failed"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(1.0)
        assert status["phase"] == "Succeeded", status
        assert most_queued >= 1  # some trials waited in the queue, neither running nor failed
        trials = admin.list(API_VERSION, "TrainingJob", ns)
        assert len(trials) == 4
        assert status["trialsCreated"] == 4
        assert status["trialsFailed"] == 0
