"""How long the name of each kind may be: the longest name whose derived children still fit.

An object's name becomes the name of what the operator creates for it (a Job, a Service, a
child object) and a label value, and those carry at most 63 characters. A name that fits
the API server's 253 but not its children would be accepted and fail later, half-way
through a reconcile; the root CEL rules built here refuse it at admission instead, with a
message that names the limit and why. ``builders.names`` derives the children's names from
the same suffixes, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final

from mlops_operator.api.cel import Rule, rule
from mlops_operator.api.search_space import TRIALS_MAX

#: a label value, and a Service name (a DNS-1035 label)
LABEL_VALUE_MAX: Final = 63
#: A Job's pods carry its name in a label, and an Indexed Job's pod hostnames are
#: "<job>-<index>" (index < 64 workers), with room left for the Job controller's suffixes,
#: so a Job name stays well inside a 63-character label.
JOB_NAME_MAX: Final = 52

#: an Experiment's trial is the TrainingJob "<experiment>-t<number>", number ≤ TRIALS_MAX
TRIAL_SUFFIX: Final = "-t"
#: a Service name (a DNS-1035 label); a Deployment's router Deployment and Service carry the
#: Deployment's own name, its stable endpoint http://<deployment>.<namespace>.svc
SERVICE_NAME_MAX: Final = 63
SERVICE_NAME_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

#: a TrainingJob becomes a Job (and, with workers > 1, a headless Service) of its own name
TRAINING_JOB_NAME_MAX: Final = JOB_NAME_MAX
#: an Experiment's name plus "-t<number>" is a TrainingJob name
EXPERIMENT_NAME_MAX: Final = TRAINING_JOB_NAME_MAX - len(TRIAL_SUFFIX) - len(str(TRIALS_MAX))
#: a Model's name is a label value of everything made for it, and a folder of its artifacts
MODEL_NAME_MAX: Final = LABEL_VALUE_MAX
#: a ModelVersion's name is a label value of the serving pods and of what it was trained by
MODEL_VERSION_NAME_MAX: Final = LABEL_VALUE_MAX
#: a Deployment's name is its router's Service name
DEPLOYMENT_NAME_MAX: Final = SERVICE_NAME_MAX


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOU" else "a"


def name_rule(kind: str, limit: int, *, because: str) -> Rule:
    """The root rule refusing a ``kind`` whose name is longer than ``limit``."""
    return rule(
        f"size(self.metadata.name) <= {limit}",
        f"{_article(kind)} {kind} name may have at most {limit} characters: {because}",
    )


MODEL_NAME_RULE: Final = name_rule(
    "Model",
    MODEL_NAME_MAX,
    because="it is a label value of everything made for it and a folder of its artifacts",
)
TRAINING_JOB_NAME_RULE: Final = name_rule(
    "TrainingJob",
    TRAINING_JOB_NAME_MAX,
    because="it names the run's Job, whose pods carry it in a 63-character label "
    "(and, with workers > 1, a Service and pod hostnames <name>-<index>)",
)
EXPERIMENT_NAME_RULE: Final = name_rule(
    "Experiment",
    EXPERIMENT_NAME_MAX,
    because=f"its trials are TrainingJobs named <experiment>{TRIAL_SUFFIX}<number>, "
    f"which may have at most {TRAINING_JOB_NAME_MAX}",
)
MODEL_VERSION_NAME_RULE: Final = name_rule(
    "ModelVersion",
    MODEL_VERSION_NAME_MAX,
    because="it is a label value of the pods that serve it",
)
DEPLOYMENT_NAME_RULE: Final = name_rule(
    "Deployment",
    DEPLOYMENT_NAME_MAX,
    because="its router is a Service of the same name, the stable endpoint "
    "http://<deployment>.<namespace>.svc",
)
#: the end of a version server's name (``builders.names.server_name``: ``fraud-v1-2-0``)
SERVER_NAME_SUFFIX_PATTERN: Final = "-v[0-9]+-[0-9]+-[0-9]+(-[a-z0-9-]+)?$"
DEPLOYMENT_NAME_NOT_A_SERVER_RULE: Final = rule(
    f"!self.metadata.name.matches('{SERVER_NAME_SUFFIX_PATTERN}')",
    "a Deployment name may not end in -v<major>-<minor>-<patch> (as fraud-v1-2-0): that is "
    "the name of another Deployment's version server (Deployment fraud serving 1.2.0), whose "
    "Service it would take over; choose another name, such as fraud-1-2-0",
)
DEPLOYMENT_NAME_FORM_RULE: Final = rule(
    f"self.metadata.name.matches('{SERVICE_NAME_PATTERN}')",
    "a Deployment name must start with a letter and hold only lower-case letters, digits "
    "and '-' (no '.'): it is the name of its router's Service",
)
