"""Prometheus metrics of the model server. Labels are model and version only."""

from __future__ import annotations

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlops_core.performance_estimate import PerformanceEstimate

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MV = ("model", "version")


class ServerMetrics:
    """The metric families, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "ml_prediction_latency_seconds",
            "Time to answer a prediction request.",
            MV,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "ml_predictions_total", "Predictions made (one per instance).", MV, registry=r
        )
        self.errors = Counter(
            "ml_prediction_errors_total", "Prediction requests that failed.", MV, registry=r
        )
        self.memory = Gauge(
            "ml_model_memory_usage_bytes",
            "Bytes of a loaded model version (files plus the per-model overhead).",
            MV,
            registry=r,
        )
        self.drift = Gauge(
            "ml_feature_drift_score",
            "Highest drift score over the features of a served version.",
            MV,
            registry=r,
        )
        self.drift_detected = Gauge(
            "ml_drift_detected",
            "1 when some feature's score is above the threshold.",
            MV,
            registry=r,
        )
        self.cpu = Gauge("ml_system_cpu_usage_percent", "CPU use of the host.", registry=r)
        self.loaded = Gauge("ml_models_loaded", "Model versions in memory.", registry=r)
        self.batch_size = Histogram(
            "ml_batch_size", "Instances per forward pass.", MV, buckets=BATCH_BUCKETS, registry=r
        )
        self.load_seconds = Histogram(
            "ml_model_load_seconds",
            "Time to load, verify and warm up a version.",
            MV,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.load_failures = Counter(
            "ml_model_load_failures_total", "Loads that failed.", MV, registry=r
        )
        self.evictions = Counter("ml_model_evictions_total", "Versions unloaded.", MV, registry=r)
        self.feedback = Counter("ml_feedback_total", "True labels received.", MV, registry=r)
        self.feedback_correct = Counter(
            "ml_feedback_correct_total",
            "True labels that matched the prediction (sum over pods for A/B tests).",
            MV,
            registry=r,
        )
        self.explain_latency = Histogram(
            "ml_explanation_latency_seconds",
            "Time to answer an explain request (its own histogram: explaining costs hundreds "
            "of forward passes per instance).",
            MV,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.explanations = Counter("ml_explanations_total", "Instances explained.", MV, registry=r)
        self.online_accuracy = Gauge(
            "ml_online_accuracy", "Share of correct predictions among feedback.", MV, registry=r
        )
        self.estimated_accuracy = Gauge(
            "ml_estimated_accuracy",
            "Accuracy of the last monitoring.windowSize predictions, estimated from their "
            "calibrated probabilities (no labels needed).",
            MV,
            registry=r,
        )
        self.estimated_accuracy_lower = Gauge(
            "ml_estimated_accuracy_lower",
            "Lower end of the 95% interval of the window's realized accuracy.",
            MV,
            registry=r,
        )
        self.estimated_accuracy_upper = Gauge(
            "ml_estimated_accuracy_upper",
            "Upper end of the 95% interval of the window's realized accuracy.",
            MV,
            registry=r,
        )
        self.estimated_macro_f1 = Gauge(
            "ml_estimated_macro_f1",
            "Macro F1 of the window estimated from calibrated probabilities (multi-class).",
            MV,
            registry=r,
        )
        self._estimates = (
            self.estimated_accuracy,
            self.estimated_accuracy_lower,
            self.estimated_accuracy_upper,
            self.estimated_macro_f1,
        )

    def sample_cpu(self) -> None:
        self.cpu.set(psutil.cpu_percent(interval=None))

    def set_estimate(self, model: str, version: str, estimate: PerformanceEstimate) -> None:
        """The gauges of a version's performance estimate."""
        accuracy = estimate.accuracy
        self.estimated_accuracy.labels(model, version).set(accuracy.value)
        self.estimated_accuracy_lower.labels(model, version).set(accuracy.lower)
        self.estimated_accuracy_upper.labels(model, version).set(accuracy.upper)
        if estimate.macro_f1 is not None:
            self.estimated_macro_f1.labels(model, version).set(estimate.macro_f1.value)

    def forget(self, model: str, version: str) -> None:
        """Drop the gauges of an unloaded version (counters keep their history)."""
        for gauge in (self.memory, self.drift, self.drift_detected, *self._estimates):
            try:
                gauge.remove(model, version)
            except KeyError:
                continue
