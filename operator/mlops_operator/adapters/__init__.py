"""Adapters at the edge: the operator's network I/O other than the Kubernetes API.

:mod:`.alert_senders` delivers alerts to Slack, Alertmanager-compatible webhooks and SMTP;
:mod:`.drift_reader` reads the drift endpoints of the model server pods; :mod:`.ab_counts` the
A/B tallies of server and router pods, many pods side by side (:mod:`.pod_reads`). Only
handlers and reconcilers call them; the decisions they carry out are made by the pure
packages.
"""
