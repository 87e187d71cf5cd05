"""Adapters at the edge: the operator's network I/O other than the Kubernetes API (``kube``).

- :mod:`.alert_senders` delivers alerts to Slack, Alertmanager-compatible webhooks and SMTP;
  the handlers call it with the deliveries a reconcile planned.
- :mod:`.drift_reader` reads the drift endpoints of the model server pods and checks a
  replacement reference in the object store, many pods side by side (:mod:`.pod_reads`);
- :mod:`.ab_counts` reads the servers' accuracy tallies and turns the routers' request counters
  into A/B arms;
- :mod:`.router_metrics` scrapes the router pods' ``/metrics`` (once per reconcile);
- :mod:`.mlflow_runs` keeps an Experiment's parent run in MLflow;
- :mod:`.endpoint_probe` asks a Service whether it answers.

The handlers and the reconcilers (the Deployment's and the Experiment's) call them to read or
to deliver; what the answers mean is decided by the pure packages, and an adapter imports no
handler, reconciler, operation or command (an import-linter contract). The REST API's own
forwarding of predictions to the routers is HTTP in the HTTP floor, in ``rest``.
"""
