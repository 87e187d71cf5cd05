"""Drift monitoring decisions, pure: the pods' drift reports of each served version combined
into the Deployment's ``status.drift``, the ``DriftDetected`` condition and the drift alerts."""
