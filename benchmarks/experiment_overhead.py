"""Experiment overhead: a hyperparameter search run by the operator against the same search run
by a plain optuna ask-and-tell loop that launches the trainer as local processes, in the same
run on the same machine.

    python benchmarks/experiment_overhead.py [--trials 6] [--parallel 2] [--epochs 3]
                                             [--repeats 3] [--dir DEVCLUSTER]

Both searches ask the same seeded random sampler for the same trials (its choices do not depend
on the results), train them with the same trainer (``python -m mlops_trainer``) and the same
number at a time. The operator's trials run as pods on the devcluster's node agent (also local
processes, reading the data from MinIO); the plain loop's read the same CSV files from disk.

The two alternate, ``--repeats`` times each, and the medians are compared (the load of a shared
machine moves single runs a lot). Figures: the wall time of each search and their ratio
(target ≤ 1.3), where each operator trial's time goes (trial created → its pod running → the
pod succeeded → the trial finished) beside the plain loop's trainer processes, and the latency
from one trial's end (its TrainingJob finished) to the next trial's Job being created (median,
target ≤ 1 s), with the same from the moment the trial's Job is marked complete (negative when
the next trial starts first: the operator ends a one-pod run when its pod succeeds, and the Job
controller marks the Job about a second later). The operator's side is timed by watches of the
API server, each change timestamped as it arrives: polling would add work on the CPUs the
trials run on, which the plain loop keeps busy. Also reported: how many CPUs the machine kept
busy on average during each kind of search. The last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from harness.cluster import add_cluster_option, bench_cluster, cluster_s3, operator_access
from harness.watching import NamespaceWatch, WatchedKind
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    copy_s3_secret,
    upload_example_datasets,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.search_space import SearchParameter
from mlops_operator.builders.experiment_trial import trial_selector
from mlops_operator.builders.names import LABEL_TRAINING_JOB
from mlops_operator.kube import Kube
from mlops_operator.search.strategies import build_sampler, search_distributions
from mlops_operator.search.template import template_value

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "breast-cancer"
SEED = 7
MAX_WALL_RATIO = 1.3
MAX_GAP_S = 1.0
SEARCH_TIMEOUT_S = 900
SPACE = [
    {
        "name": "model.optimizer.learningRate",
        "type": "float",
        "low": 0.001,
        "high": 0.1,
        "log": True,
    },
    {"name": "training.batchSize", "type": "categorical", "values": ["16", "32", "64"]},
]


def template(epochs: int, *, data: str) -> dict[str, Any]:
    return {
        "dataset": {
            "train": f"{data}/train.csv",
            "validation": f"{data}/validation.csv",
            "labelColumn": "diagnosis",
        },
        "model": {"architecture": "logistic_regression"},
        "training": {"epochs": epochs, "batchSize": 32},
    }


def plain_optuna(
    trials: int, parallel: int, epochs: int, work: Path
) -> tuple[float, list[dict[str, Any]], list[float]]:
    """The baseline: ask, launch ``python -m mlops_trainer``, tell; ``parallel`` at a time.
    (wall seconds, the trials' parameters, each trainer process's lifetime)"""
    parameters = [SearchParameter.model_validate(item) for item in SPACE]
    distributions = search_distributions(parameters)
    study = optuna.create_study(
        direction="maximize",
        sampler=build_sampler("random", seed=SEED, distributions=distributions),
    )
    running: dict[int, tuple[subprocess.Popen[bytes], Any, Path]] = {}
    asked: list[dict[str, Any]] = []
    launched: dict[int, float] = {}
    lifetimes: list[float] = []
    started = time.perf_counter()
    created = 0
    while created < trials or running:
        while created < trials and len(running) < parallel:
            trial = study.ask(dict(distributions))
            asked.append(dict(trial.params))
            config = template(epochs, data=str(DATA))
            for parameter in parameters:
                value = template_value(parameter, trial.params[parameter.name])
                section, *rest = parameter.name.split(".")
                node = config[section]
                for part in rest[:-1]:
                    node = node.setdefault(part, {})
                node[rest[-1]] = value
            out = work / f"trial-{trial.number}"
            config["output"] = {
                "modelName": "bench",
                "version": f"0.0.{trial.number}",
                "artifactUri": str(out / "artifact"),
            }
            env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
            env.update(
                # as in the pods, whose 500m CPU limit gives torch one thread
                OMP_NUM_THREADS="1",
                MLOPS_TRAINER_CONFIG=json.dumps(config),
                MLOPS_TERMINATION_MESSAGE_PATH=str(out / "termination"),
            )
            out.mkdir(parents=True)
            process = subprocess.Popen(
                [sys.executable, "-m", "mlops_trainer"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            running[trial.number] = (process, trial, out)
            launched[trial.number] = time.perf_counter()
            created += 1
        for number, (process, trial, out) in list(running.items()):
            if process.poll() is None:
                continue
            lifetimes.append(time.perf_counter() - launched[number])
            result = json.loads((out / "termination").read_text())
            study.tell(trial, result["metrics"]["val_accuracy"])
            del running[number]
        time.sleep(0.05)
    return time.perf_counter() - started, asked, lifetimes


def experiment(name: str, trials: int, parallel: int, epochs: int) -> dict[str, Any]:
    spec_template = template(epochs, data="s3://mlops/datasets/breast-cancer")
    spec_template["resources"] = {"cpu": "500m", "memory": "1Gi"}
    spec_template["retries"] = 0
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "modelName": "bench",
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "strategy": "random",
            "seed": SEED,
            "maxTrials": trials,
            "parallelTrials": parallel,
            "maxFailedTrials": 0,
            "searchSpace": SPACE,
            "winner": {"register": False},
            "trialTemplate": spec_template,
        },
    }


def _first(seen: dict[str, float], key: str, now: float) -> None:
    seen.setdefault(key, now)


@dataclass
class Trials:
    """When each trial (by TrainingJob name) was first seen in each state, as watched."""

    created: dict[str, float] = field(default_factory=dict)
    pod_running: dict[str, float] = field(default_factory=dict)
    pod_succeeded: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)

    def phases(self) -> dict[str, list[float]]:
        """Per trial: TrainingJob created → its pod running → the pod succeeded (the trainer's
        own run) → the TrainingJob finished (the operator's check of the artifact)."""
        spans = {
            "trial_to_pod_running_s": (self.created, self.pod_running),
            "pod_running_to_pod_succeeded_s": (self.pod_running, self.pod_succeeded),
            "pod_succeeded_to_trial_finished_s": (self.pod_succeeded, self.finished),
        }
        return {
            name: [end[trial] - begin[trial] for trial in begin if trial in end]
            for name, (begin, end) in spans.items()
        }


TERMINAL = ("Succeeded", "Failed", "Stopped")


class Timeline:
    """What the watches report, first seen when: trials, their pods and Jobs, the search's end."""

    def __init__(self) -> None:
        self.trials = Trials()
        self.job_created: dict[str, float] = {}
        self.job_done: dict[str, float] = {}
        self.ended = threading.Event()
        self.ended_at = 0.0
        self._lock = threading.Lock()

    def seen(self, plural: str, _type: str, body: dict[str, Any], now: float) -> None:
        name = body["metadata"]["name"]
        status = body.get("status") or {}
        with self._lock:
            if plural == "trainingjobs":
                _first(self.trials.created, name, now)
                if status.get("phase") in TERMINAL:
                    _first(self.trials.finished, name, now)
            elif plural == "pods":
                trial = (body["metadata"].get("labels") or {}).get(LABEL_TRAINING_JOB)
                if trial and status.get("phase") in ("Running", "Succeeded"):
                    _first(self.trials.pod_running, trial, now)
                if trial and status.get("phase") == "Succeeded":
                    _first(self.trials.pod_succeeded, trial, now)
            elif plural == "jobs":
                _first(self.job_created, name, now)
                if any(
                    c["type"] == "Complete" and c["status"] == "True"
                    for c in status.get("conditions") or []
                ):
                    _first(self.job_done, name, now)
            elif status.get("phase") in ("Succeeded", "Failed") and not self.ended.is_set():
                self.ended_at = now
                self.ended.set()


def through_operator(
    admin: Kube, namespace: str, trials: int, parallel: int, epochs: int
) -> tuple[float, list[float], list[float], list[dict[str, Any]], Trials]:
    """(wall seconds, trial end → next Job, trial Job end → next Job, the trials' parameters,
    the trials' timelines), timed by watches (no polling on the CPUs the trials run on)"""
    body = experiment("bench", trials, parallel, epochs)
    body["metadata"]["namespace"] = namespace
    admin.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": "bench", "namespace": namespace},
            "spec": {"task": "tabular-classification"},
        }
    )
    timeline = Timeline()
    kinds = [
        WatchedKind(API_VERSION, "trainingjobs", trial_selector("bench")),
        WatchedKind("v1", "pods"),
        WatchedKind("batch/v1", "jobs"),
        WatchedKind(API_VERSION, "experiments"),
    ]
    with NamespaceWatch(admin.api_client, namespace, kinds, timeline.seen) as watching:
        started = time.perf_counter()
        admin.create(body)
        if not timeline.ended.wait(timeout=SEARCH_TIMEOUT_S):
            raise RuntimeError(f"the search did not end within {SEARCH_TIMEOUT_S} s")
    if watching.failures:
        raise RuntimeError(f"a watch failed: {watching.failures[0]!r}")
    wall = timeline.ended_at - started
    seen, finished = timeline.trials, timeline.trials.finished
    job_created, job_done = timeline.job_created, timeline.job_done
    trial_jobs = sorted(job_created.items(), key=lambda item: item[1])
    # the n-th trial past the first wave starts when the (n - parallel)-th trial to end ends
    ends = sorted(finished.values())
    job_ends = sorted(job_done.values())
    later = [created for _, created in trial_jobs[parallel:]]
    to_next = [created - end for created, end in zip(later, ends, strict=False)]
    from_job = [created - end for created, end in zip(later, job_ends, strict=False)]
    params = [
        json.loads(tj["metadata"]["annotations"]["mlops.dev/trial"])["params"]
        for tj in sorted(
            admin.list(
                API_VERSION, "TrainingJob", namespace, label_selector=trial_selector("bench")
            ),
            key=lambda tj: int(tj["metadata"]["labels"]["mlops.dev/trial"]),
        )
    ]
    return wall, to_next, from_job, params, seen


def run(
    cluster: DevCluster, *, trials: int, parallel: int, epochs: int, repeats: int, work: Path
) -> dict[str, Any]:
    admin, kubeconfig = operator_access(cluster, work)
    upload_example_datasets(f"s3://{cluster.bucket}", client=cluster_s3(cluster))
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / "operator.log", env=cluster.s3_env()
    ).start()
    baselines: list[float] = []
    walls: list[float] = []
    to_next: list[float] = []
    from_job: list[float] = []
    lifetimes: list[float] = []
    phases: dict[str, list[float]] = {}
    plain_busy: list[float] = []
    operator_busy: list[float] = []
    watching_cpu: list[float] = []
    same = True
    namespaces = []
    try:
        for attempt in range(repeats):
            busy = busy_cpu_seconds()
            baseline, baseline_params, plain_lifetimes = plain_optuna(
                trials, parallel, epochs, work / f"plain-{attempt}"
            )
            plain_busy.append((busy_cpu_seconds() - busy) / baseline)
            baselines.append(baseline)
            lifetimes += plain_lifetimes
            namespace = f"bench-experiment-{attempt}-{int(time.time())}"
            namespaces.append(namespace)
            admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            copy_s3_secret(admin, namespace)
            busy, own = busy_cpu_seconds(), time.process_time()
            wall, gaps, job_gaps, params, seen = through_operator(
                admin, namespace, trials, parallel, epochs
            )
            operator_busy.append((busy_cpu_seconds() - busy) / wall)
            watching_cpu.append(time.process_time() - own)
            for name, values in seen.phases().items():
                phases.setdefault(name, []).extend(values)
            walls.append(wall)
            to_next += gaps
            from_job += job_gaps
            same = same and params == baseline_params
            print(
                f"repeat {attempt + 1}: plain optuna loop {baseline:.1f}s, operator {wall:.1f}s",
                file=sys.stderr,
            )
    finally:
        operator.stop()
        for namespace in namespaces:
            admin.delete("v1", "Namespace", namespace)
    baseline, wall = statistics.median(baselines), statistics.median(walls)
    ratio = wall / baseline
    next_median = statistics.median(to_next) if to_next else float("nan")
    from_job_median = statistics.median(from_job) if from_job else float("nan")
    print(f"the same trials in both: {same}")
    print(
        f"wall time, median of {repeats}: operator {wall:.1f}s, plain optuna loop "
        f"{baseline:.1f}s, ratio {ratio:.2f} (target ≤ 1.3)"
    )
    print(
        f"trial end → next trial's Job: median {next_median:.2f}s over {len(to_next)} "
        f"(target ≤ 1 s); from the end of the trial's Job: median {from_job_median:.2f}s"
    )
    print(
        f"CPUs busy on average: {_median(plain_busy):.2f} during the plain loop, "
        f"{_median(operator_busy):.2f} during the operator's search (the benchmark's own "
        f"watches: {_median(watching_cpu):.2f} CPU s per search)"
    )
    breakdown = {name: _median(values) for name, values in phases.items()}
    breakdown["plain_trainer_process_s"] = _median(lifetimes)
    print("per trial, medians (min–max):", file=sys.stderr)
    for name, values in [*phases.items(), ("plain_trainer_process_s", lifetimes)]:
        print(
            f"  {name}: {_median(values):.2f} ({min(values, default=math.nan):.2f}–"
            f"{max(values, default=math.nan):.2f}) over {len(values)}",
            file=sys.stderr,
        )
    return summary(
        {
            "trials": trials,
            "parallel": parallel,
            "repeats": repeats,
            "operator_wall_s": wall,
            "plain_optuna_wall_s": baseline,
            "trial_end_to_next_job_median_s": next_median,
            "trial_job_end_to_next_job_median_s": from_job_median,
            "same_trials": same,
            "operator_walls_s": walls,
            "plain_optuna_walls_s": baselines,
            "per_trial_median_s": breakdown,
            "cpus_busy_plain_loop": _median(plain_busy),
            "cpus_busy_operator": _median(operator_busy),
            "benchmark_cpu_s_per_operator_search": _median(watching_cpu),
        }
    )


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot: every process and the kernel."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _json_number(value: Any) -> Any:
    """Floats rounded for the summary (also inside lists and mappings); a median of nothing
    (NaN) as null, which JSON allows."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, list):
        return [_json_number(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_number(item) for key, item in value.items()}
    return value


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The JSON summary from the medians: each search's wall time and the trial-to-Job gaps."""
    ratio = figures["operator_wall_s"] / figures["plain_optuna_wall_s"]
    next_median = figures["trial_end_to_next_job_median_s"]
    met = bool(figures["same_trials"]) and ratio <= MAX_WALL_RATIO and next_median <= MAX_GAP_S
    rounded = {k: _json_number(v) for k, v in figures.items()}
    return {
        "benchmark": "experiment_overhead",
        "figures": {**rounded, "wall_ratio": _json_number(ratio)},
        "targets": {
            "wall_ratio": f"<= {MAX_WALL_RATIO}",
            "trial_end_to_next_job_median_s": f"<= {MAX_GAP_S}",
            "same_trials": True,
        },
        "met": met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating pairs of searches")
    add_cluster_option(parser)
    args = parser.parse_args()
    with bench_cluster(args.dir) as (cluster, work):
        summary = run(
            cluster,
            trials=args.trials,
            parallel=args.parallel,
            epochs=args.epochs,
            repeats=args.repeats,
            work=work,
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
