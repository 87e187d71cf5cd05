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
- A/B verdicts: ``mlops_deployment_ab_samples{…, version}``,
  ``mlops_deployment_ab_value{…, version, metric, bound}`` (bound ``estimate``, ``lower``,
  ``upper``), ``mlops_deployment_ab_p_value{…, version}`` (each arm against the control) and
  ``mlops_deployment_ab_overall_p_value``, ``mlops_deployment_ab_decision{…, decision}`` (1 for
  the current one).
- The sequential canary: ``mlops_deployment_canary_increase{…, comparison, bound}``
  (comparison ``error_rate`` or ``slow_share``; bound ``estimate``, ``lower``, ``upper``,
  ``tolerance``), new minus stable since the canary began, while a rollout runs.

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
    AB_DECISIONS,
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
    yield from ab_test_families(states)
    yield from canary_estimate_families(states)


def ab_test_families(states: Iterable[DeploymentState]) -> Iterator[GaugeMetricFamily]:
    ids = ["namespace", "deployment"]
    samples = GaugeMetricFamily(
        "mlops_deployment_ab_samples", "Samples of each A/B arm.", labels=[*ids, "version"]
    )
    value = GaugeMetricFamily(
        "mlops_deployment_ab_value",
        "Each A/B arm's metric (estimate) and the ends of its interval (lower, upper).",
        labels=[*ids, "version", "metric", "bound"],
    )
    arm_p = GaugeMetricFamily(
        "mlops_deployment_ab_p_value",
        "Each A/B arm's p-value against the control (corrected for the comparisons).",
        labels=[*ids, "version"],
    )
    overall_p = GaugeMetricFamily(
        "mlops_deployment_ab_overall_p_value", "The A/B test's smallest p-value.", labels=ids
    )
    decision = GaugeMetricFamily(
        "mlops_deployment_ab_decision",
        "1 for the A/B test's decision (Running, Winner, NoDifference, SampleRatioMismatch).",
        labels=[*ids, "decision"],
    )
    for s in states:
        ab = s.ab_test
        if ab is None:
            continue
        key = [s.namespace, s.name]
        for name in AB_DECISIONS:
            decision.add_metric([*key, name], 1 if ab.decision == name else 0)
        if ab.p_value is not None:
            overall_p.add_metric(key, ab.p_value)
        for arm in ab.arms:
            samples.add_metric([*key, arm.version], arm.samples)
            for bound, figure in (
                ("estimate", arm.value),
                ("lower", arm.lower),
                ("upper", arm.upper),
            ):
                if figure is not None:
                    value.add_metric([*key, arm.version, ab.metric, bound], figure)
            if arm.p_value is not None:
                arm_p.add_metric([*key, arm.version], arm.p_value)
    yield from (samples, value, arm_p, overall_p, decision)


def canary_estimate_families(states: Iterable[DeploymentState]) -> Iterator[GaugeMetricFamily]:
    increase = GaugeMetricFamily(
        "mlops_deployment_canary_increase",
        "The sequential canary's new-minus-stable proportion since the canary began (estimate), "
        "its always-valid interval (lower, upper) and the tolerance.",
        labels=["namespace", "deployment", "comparison", "bound"],
    )
    for s in states:
        for e in s.canary_estimates:
            for bound, figure in (
                ("estimate", e.increase),
                ("lower", e.lower),
                ("upper", e.upper),
                ("tolerance", e.tolerance),
            ):
                increase.add_metric([s.namespace, s.name, e.comparison, bound], figure)
    yield increase


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
