"""Generate the Grafana dashboard of mlops-operator with grafana-foundation-sdk.

    python scripts/dashboard.py            # write the chart's files/dashboards/mlops-operator.json
    python scripts/dashboard.py --check    # exit 1 when the committed JSON differs

The metric names are the ones the model server (``mlops_serving/metrics.py``), the router
(``mlops_serving/router_metrics.py``, its per-version series named in
``mlops_core/router_series.py``) and the operator (``mlops_operator/metrics.py``) export;
``tests/integration/test_prometheus_scrape.py`` runs every query against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

OUTPUT: Final = Path("helm/mlops-operator/files/dashboards/mlops-operator.json")
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS: Final = 'namespace=~"$namespace"'
RATE: Final = "$__rate_interval"
MV: Final = "namespace, model, version"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its title, unit, kind and queries (also read by the Prometheus test)."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # timeseries | stat | bargauge
    width: int = 12


def _quantile(q: float) -> Query:
    expr = (
        f"histogram_quantile({q}, sum by ({MV}, le) "
        f"(rate(ml_prediction_latency_seconds_bucket{{{NS}}}[{RATE}])))"
    )
    return Query(expr, f"p{round(q * 100)} {{{{model}}}} {{{{version}}}}")


def _rate(metric: str) -> str:
    return f"sum by ({MV}) (rate({metric}{{{NS}}}[{RATE}]))"


SERVING: Final = (
    PanelSpec(
        "Prediction latency percentiles",
        "p50, p95 and p99 of the time to answer a prediction request, per model and version.",
        "s",
        (_quantile(0.5), _quantile(0.95), _quantile(0.99)),
    ),
    PanelSpec(
        "Throughput",
        "Predictions per second (one per instance), per model and version.",
        "ops",
        (Query(_rate("ml_predictions_total"), "{{model}} {{version}}"),),
    ),
    PanelSpec(
        "Error rate",
        "Share of prediction requests that failed, per model and version.",
        "percentunit",
        (
            Query(
                f"{_rate('ml_prediction_errors_total')} / ({_rate('ml_prediction_errors_total')}"
                f" + {_rate('ml_prediction_latency_seconds_count')})",
                "{{model}} {{version}}",
            ),
        ),
    ),
    PanelSpec(
        "Drift score per version",
        "Highest drift score over the features of each served version (model server).",
        "short",
        (Query(f"max by ({MV}) (ml_feature_drift_score{{{NS}}})", "{{model}} {{version}}"),),
    ),
)

ROLLOUT: Final = (
    PanelSpec(
        "Traffic split (configured)",
        "Percent of traffic the router sends to each version, from the Deployment's status.",
        "percent",
        (
            Query(
                f"mlops_deployment_traffic_weight{{{NS}}}",
                "{{deployment}} {{version}}",
            ),
        ),
    ),
    PanelSpec(
        "Traffic split (observed)",
        "Share of the requests that each version answered at the router.",
        "percentunit",
        (
            Query(
                f"sum by (namespace, version) (rate(mlops_router_requests_total{{{NS}}}[{RATE}]))"
                f" / ignoring(version) group_left sum by (namespace) "
                f"(rate(mlops_router_requests_total{{{NS}}}[{RATE}]))",
                "{{namespace}} {{version}}",
            ),
        ),
    ),
    PanelSpec(
        "Canary step",
        "Index of the canary step each rollout is at.",
        "short",
        (Query(f"mlops_deployment_canary_step{{{NS}}}", "{{deployment}}"),),
        kind="stat",
        width=6,
    ),
    PanelSpec(
        "Rollouts by phase",
        "Deployments (mlops.dev) in each phase: Pending, Progressing, Serving, RolledBack, Failed.",
        "short",
        (Query(f"sum by (phase) (mlops_deployment_rollout_phase{{{NS}}})", "{{phase}}"),),
        kind="stat",
        width=6,
    ),
    PanelSpec(
        "Router p99 latency by version",
        "The latency the canary analysis gates on.",
        "s",
        (
            Query(
                "histogram_quantile(0.99, sum by (namespace, version, le) "
                f"(rate(mlops_router_request_duration_seconds_bucket{{{NS}}}[{RATE}])))",
                "{{namespace}} {{version}}",
            ),
        ),
    ),
    PanelSpec(
        "Estimated accuracy (no labels)",
        "Accuracy of each served version estimated from its calibrated probabilities over the "
        "last monitoring.windowSize predictions, with its 95% interval, beside the version's "
        "test accuracy (from the Deployment's status); PerformanceDegraded is set when the "
        "estimate falls more than monitoring.performanceMargin below the test accuracy.",
        "percentunit",
        (
            Query(
                f'mlops_deployment_estimated_accuracy{{{NS}, bound="estimate"}}',
                "{{deployment}} {{version}} estimate",
            ),
            Query(
                f'mlops_deployment_estimated_accuracy{{{NS}, bound=~"lower|upper"}}',
                "{{deployment}} {{version}} {{bound}}",
            ),
            Query(
                f'mlops_deployment_estimated_accuracy{{{NS}, bound="test"}}',
                "{{deployment}} {{version}} test",
            ),
        ),
    ),
    PanelSpec(
        "Estimated against realized accuracy (model server)",
        "Each server's estimate of its last window beside the accuracy of the predictions "
        "whose true labels came back on /v1/feedback.",
        "percentunit",
        (
            Query(f"avg by ({MV}) (ml_estimated_accuracy{{{NS}}})", "{{model}} {{version}} est."),
            Query(f"avg by ({MV}) (ml_online_accuracy{{{NS}}})", "{{model}} {{version}} realized"),
        ),
    ),
    PanelSpec(
        "Drift per feature",
        "Latest drift score of each served version and the feature that has it "
        "(from the Deployment's status).",
        "short",
        (
            Query(
                f"mlops_deployment_drift_score{{{NS}}}",
                "{{deployment}} {{version}} {{feature}} ({{method}})",
            ),
        ),
    ),
    PanelSpec(
        "A/B arms: metric with interval",
        "Each A/B arm's metric (accuracy or error rate) and the ends of its interval "
        "(always-valid for msprt), from the Deployment's status.abTest.",
        "percentunit",
        (
            Query(
                f"mlops_deployment_ab_value{{{NS}}}",
                "{{deployment}} {{version}} {{metric}} {{bound}}",
            ),
        ),
    ),
    PanelSpec(
        "A/B samples per arm",
        "Samples each A/B arm has been judged on.",
        "short",
        (Query(f"mlops_deployment_ab_samples{{{NS}}}", "{{deployment}} {{version}}"),),
    ),
    PanelSpec(
        "A/B p-values",
        "The test's smallest p-value and each arm's against the control; below the "
        "significance level the test concludes.",
        "short",
        (
            Query(f"mlops_deployment_ab_overall_p_value{{{NS}}}", "{{deployment}}"),
            Query(f"mlops_deployment_ab_p_value{{{NS}}}", "{{deployment}} {{version}}"),
        ),
    ),
    PanelSpec(
        "A/B decision",
        "The decision of each A/B test: Running, Winner, NoDifference or SampleRatioMismatch.",
        "short",
        (
            Query(
                f"max by (namespace, deployment, decision) "
                f"(mlops_deployment_ab_decision{{{NS}}}) == 1",
                "{{deployment}} {{decision}}",
            ),
        ),
        kind="stat",
        width=6,
    ),
    PanelSpec(
        "Sequential canary: increase over stable",
        "New minus stable since the canary began (error rate, share of slow requests) with its "
        "always-valid interval and the tolerance; rolled back once lower is above tolerance.",
        "percentunit",
        (
            Query(
                f"mlops_deployment_canary_increase{{{NS}}}",
                "{{deployment}} {{comparison}} {{bound}}",
            ),
        ),
    ),
)

TRAINING: Final = (
    PanelSpec(
        "Training jobs by state",
        "TrainingJobs in each phase.",
        "short",
        (Query(f"sum by (phase) (mlops_training_jobs{{{NS}}})", "{{phase}}"),),
    ),
    PanelSpec(
        "Experiment progress",
        "Finished trials (succeeded, failed or pruned) of each Experiment, of its maxTrials.",
        "percentunit",
        (
            Query(
                "sum by (namespace, experiment) (mlops_experiment_trials"
                f'{{{NS}, state=~"succeeded|failed|pruned"}}) / on (namespace, experiment) '
                f"mlops_experiment_max_trials{{{NS}}}",
                "{{namespace}}/{{experiment}}",
            ),
        ),
        kind="bargauge",
    ),
    PanelSpec(
        "Trials by state",
        "Trials of each Experiment that run, succeeded, failed or were pruned.",
        "short",
        (
            Query(
                f'mlops_experiment_trials{{{NS}, state!="created"}}',
                "{{experiment}} {{state}}",
            ),
        ),
    ),
    PanelSpec(
        "Operator reconciles",
        "Reconciles per second by kind and result, and handler errors.",
        "ops",
        (
            Query(
                f"sum by (kind, result) (rate(mlops_operator_reconciles_total[{RATE}]))",
                "{{kind}} {{result}}",
            ),
            Query(
                f"sum by (kind) (rate(mlops_operator_reconcile_errors_total[{RATE}]))",
                "{{kind}} errors",
            ),
        ),
    ),
)

ROWS: Final = (("Serving", SERVING), ("Rollouts and drift", ROLLOUT), ("Training", TRAINING))


def concrete(expr: str, *, window: str = "1m", namespace: str = ".*") -> str:
    """A panel query as Prometheus runs it: Grafana's variables replaced."""
    return expr.replace("$__rate_interval", window).replace("$namespace", namespace)


def panel_specs() -> Iterator[PanelSpec]:
    for _, specs in ROWS:
        yield from specs


def _panel(spec: PanelSpec) -> Any:
    builder: Any = {"timeseries": TimeSeries, "stat": Stat, "bargauge": BarGauge}[spec.kind]()
    panel = (
        builder.title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .span(spec.width)
        .height(8)
    )
    for index, query in enumerate(spec.queries):
        panel = panel.with_target(
            Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
        )
    return panel


def build() -> dict[str, Any]:
    dashboard = (
        Dashboard("MLOps operator")
        .uid("mlops-operator")
        .description("Serving latency, throughput and errors; rollouts, drift; training.")
        .tags(["mlops", "mlops-operator"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query("label_values(namespace)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
    )
    for title, specs in ROWS:
        dashboard = dashboard.with_row(Row(title))
        for spec in specs:
            dashboard = dashboard.with_panel(_panel(spec))
    encoded: dict[str, Any] = json.loads(
        JSONEncoder(sort_keys=True, indent=2).encode(dashboard.build())
    )
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run `make dashboard` and commit it", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
