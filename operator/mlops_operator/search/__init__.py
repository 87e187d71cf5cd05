"""Hyperparameter search as pure decisions: the search space as optuna distributions, trial
parameters applied to the trial template, the study rebuilt from persisted trial records, and
what the search does next. No Kubernetes here; ``reconcile/experiment*.py`` reads and writes."""
