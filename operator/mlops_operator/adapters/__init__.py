"""Adapters at the edge: the operator's network I/O other than the Kubernetes API.

:mod:`.alert_senders` delivers alerts to Slack, Alertmanager-compatible webhooks and SMTP;
:mod:`.drift_reader` reads the drift endpoints of the model server pods; :mod:`.endpoint_probe`
asks a Service whether it answers. Only handlers call
them; the decisions they carry out are made by the pure packages.
"""
