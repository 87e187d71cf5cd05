"""The MLOps REST API: the replaced service's ``/mlops/...`` endpoints as reads and writes of
the custom resources, for callers authenticated by their Kubernetes token (TokenReview) and
authorised by RBAC (SubjectAccessReview). ``python -m mlops_operator.rest`` runs it."""
