"""Pure functions from typed specs to Kubernetes manifests (plain dicts); no I/O here."""
