"""Prediction ids that say which version made the prediction.

A model server answers each prediction with an id ``<32 hex digits>@<version>``: 128 random bits
(unguessable: feedback trusts them) and the version that answered. Whoever later asks why that
prediction was made sends the id back in ``PREDICTION_ID_HEADER`` with the ``:explain`` request,
and both the traffic router and the server read the version from it, so the explanation comes
from the version that made the prediction, also while a canary splits the traffic. Reading the
version needs no state: any router replica and any server can do it, for as long as the version
is served. Feedback names its prediction in the body (``FEEDBACK_ID_FIELD``), and the router
reads the version from there too, so a true label reaches the version that made the prediction
without a sticky header.
"""

from __future__ import annotations

import json
from typing import Final

#: the request header carrying the id of the prediction an ``:explain`` request is about
PREDICTION_ID_HEADER: Final = "x-mlops-prediction-id"
SEPARATOR: Final = "@"
#: 32 hex digits, the separator and a version of at most 64 characters
PREDICTION_ID_MAX: Final = 32 + 1 + 64
#: where the true labels of earlier predictions are posted (KServe v1's path space)
FEEDBACK_PATH: Final = "/v1/feedback"
#: the field of a feedback body that names the prediction
FEEDBACK_ID_FIELD: Final = "predictionId"


def prediction_id(random_hex: str, version: str) -> str:
    """The id of a prediction made by ``version``."""
    return f"{random_hex}{SEPARATOR}{version}"


def version_of_prediction(prediction_id: str) -> str | None:
    """The version named by a prediction id, or None for an id that names none."""
    _, separator, version = prediction_id.strip().partition(SEPARATOR)
    return version if separator and version else None


def prediction_of_feedback(body: bytes) -> str | None:
    """The prediction id a feedback body names, or None for a body that names none (not JSON,
    not an object, no id): the server then answers the request with the reason."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    named = parsed.get(FEEDBACK_ID_FIELD) if isinstance(parsed, dict) else None
    return named if isinstance(named, str) and len(named) <= PREDICTION_ID_MAX else None
