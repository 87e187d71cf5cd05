"""The operator's own Prometheus metrics (adapter at the edge: prometheus_client, HTTP).

- ``mlops_operator_build_info{version}``: 1 while the operator runs (its absence is the
  "operator down" alert).
- ``mlops_operator_reconciles_total{kind, result}``: reconciles by outcome (``success``, or
  ``retry`` when the reconcile asked to run again after a passing fault).
- ``mlops_operator_reconcile_errors_total{kind}``: handler failures that kopf logged
  (exceptions, temporary and permanent errors).
- ``mlops_training_jobs{namespace, phase}``,
  ``mlops_training_job_failures_total{namespace, model}``.
- ``mlops_experiment_trials{namespace, experiment, state}``, ``mlops_experiment_max_trials``.
- ``mlops_deployment_rollout_phase{namespace, deployment, phase}`` (1 for the current phase),
  ``mlops_deployment_traffic_weight{…, version}``, ``mlops_deployment_canary_step``,
  ``mlops_deployment_drift_score{…, version, feature, method}``.

The per-object gauges are computed at scrape time from a :class:`ResourceBook`.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlops_operator import __version__
from mlops_operator.api.kinds import KINDS
from mlops_operator.resource_states import (
    DEPLOYMENT_PHASES,
    DeploymentState,
    ExperimentState,
    ResourceBook,
    ResourceState,
    TrainingState,
    newly_failed,
)

ReconcileResult = Literal["success", "retry"]
KOPF_OBJECT_LOGGER: Final = "kopf.objects"


class ResourceStateCollector(Collector):
    """Gauges of the watched objects, from the book, at each scrape."""

    def __init__(self, book: ResourceBook) -> None:
        self.book = book

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = self.book.states()
        yield from training_families([s for s in states if isinstance(s, TrainingState)])
        yield from experiment_families([s for s in states if isinstance(s, ExperimentState)])
        yield from deployment_families([s for s in states if isinstance(s, DeploymentState)])


def training_families(states: Iterable[TrainingState]) -> Iterator[GaugeMetricFamily]:
    jobs = GaugeMetricFamily(
        "mlops_training_jobs", "TrainingJobs by namespace and phase.", labels=["namespace", "phase"]
    )
    for (namespace, phase), count in sorted(Tally((s.namespace, s.phase) for s in states).items()):
        jobs.add_metric([namespace, phase], count)
    yield jobs


def experiment_families(states: Iterable[ExperimentState]) -> Iterator[GaugeMetricFamily]:
    trials = GaugeMetricFamily(
        "mlops_experiment_trials",
        "Trials of each Experiment by state (created counts every trial started).",
        labels=["namespace", "experiment", "state"],
    )
    max_trials = GaugeMetricFamily(
        "mlops_experiment_max_trials",
        "Trials each Experiment runs in total.",
        labels=["namespace", "experiment"],
    )
    for s in states:
        for state, count in s.trials:
            trials.add_metric([s.namespace, s.name, state], count)
        max_trials.add_metric([s.namespace, s.name], s.max_trials)
    yield trials
    yield max_trials


def deployment_families(states: Iterable[DeploymentState]) -> Iterator[GaugeMetricFamily]:
    ids = ["namespace", "deployment"]
    phase = GaugeMetricFamily(
        "mlops_deployment_rollout_phase",
        "1 for the phase each Deployment (mlops.dev) is in, 0 for the others.",
        labels=[*ids, "phase"],
    )
    weight = GaugeMetricFamily(
        "mlops_deployment_traffic_weight",
        "Percent of traffic the router sends to each version.",
        labels=[*ids, "version"],
    )
    step = GaugeMetricFamily(
        "mlops_deployment_canary_step", "Index of the canary step running now.", labels=ids
    )
    drift = GaugeMetricFamily(
        "mlops_deployment_drift_score",
        "Latest drift score of each served version, with the feature that has it.",
        labels=[*ids, "version", "feature", "method"],
    )
    estimated = GaugeMetricFamily(
        "mlops_deployment_estimated_accuracy",
        "Accuracy of each served version estimated from its calibrated probabilities (no "
        "labels), with the bounds of its 95% interval and the version's test accuracy.",
        labels=[*ids, "version", "bound"],
    )
    for s in states:
        for p in s.performance:
            for bound, number in (("estimate", p.value), ("lower", p.lower), ("upper", p.upper)):
                estimated.add_metric([s.namespace, s.name, p.version, bound], number)
            if p.test is not None:
                estimated.add_metric([s.namespace, s.name, p.version, "test"], p.test)
        for name in DEPLOYMENT_PHASES:
            phase.add_metric([s.namespace, s.name, name], 1 if s.phase == name else 0)
        for version, percent in s.traffic:
            weight.add_metric([s.namespace, s.name, version], percent)
        if s.canary_step is not None:
            step.add_metric([s.namespace, s.name], s.canary_step)
        for d in s.drift:
            drift.add_metric([s.namespace, s.name, d.version, d.feature, d.method], d.score)
    yield from (phase, weight, step, drift, estimated)


class ReconcileErrorCounter(logging.Handler):
    """Counts the handler failures that kopf logs for an object, by the object's kind."""

    def __init__(self, errors: Counter) -> None:
        super().__init__(level=logging.ERROR)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        ref: Any = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict) and ref.get("kind"):
            self.errors.labels(str(ref["kind"])).inc()


class OperatorMetrics:
    """The operator's metric families, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.book = ResourceBook()
        r = self.registry
        Gauge(
            "mlops_operator_build_info", "The running operator's version.", ["version"], registry=r
        ).labels(__version__).set(1)
        self.reconciles = Counter(
            "mlops_operator_reconciles_total",
            "Reconciles by kind and result (success, retry).",
            ["kind", "result"],
            registry=r,
        )
        self.errors = Counter(
            "mlops_operator_reconcile_errors_total",
            "Handler failures (exceptions, temporary and permanent errors) by kind.",
            ["kind"],
            registry=r,
        )
        self.training_failures = Counter(
            "mlops_training_job_failures_total",
            "TrainingJobs seen turning Failed, by namespace and model.",
            ["namespace", "model"],
            registry=r,
        )
        for kind in KINDS:  # at 0 from the start, so that rate() and increase() see the first
            self.errors.labels(kind.kind)
        r.register(ResourceStateCollector(self.book))
        self._error_counter = ReconcileErrorCounter(self.errors)

    def count_reconcile(self, kind: str, result: ReconcileResult) -> None:
        self.reconciles.labels(kind, result).inc()

    def observe(
        self, kind: str, state: ResourceState | None, *, namespace: str, name: str
    ) -> ResourceState | None:
        before = self.book.observe(kind, state, namespace=namespace, name=name)
        if isinstance(state, TrainingState):
            # Created at 0 on first sight, so that increase() sees the first failure.
            failures = self.training_failures.labels(state.namespace, state.model)
            if newly_failed(before, state):
                failures.inc()
        return before

    def serve(self, port: int, *, host: str = "0.0.0.0") -> None:  # noqa: S104
        """Serve ``/metrics`` on ``host:port`` (a daemon thread); count kopf's handler errors."""
        start_http_server(port, addr=host, registry=self.registry)
        logger = logging.getLogger(KOPF_OBJECT_LOGGER)
        if self._error_counter not in logger.handlers:
            logger.addHandler(self._error_counter)


#: the operator process's metrics (one per process, like its Prometheus endpoint)
OPERATOR_METRICS: Final = OperatorMetrics()
