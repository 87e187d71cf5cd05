"""What a model server says about one served version's estimated performance:
``GET /mlops/models/{name}/performance``.

The server writes it and the operator reads it from every server pod, so the shape is declared
once, here (as ``drift_report`` is for drift). The estimate comes from the calibrated
probabilities of the pod's last ``windowSize`` predictions (``performance_estimate``); the
realized accuracy comes from the true labels posted to ``/v1/feedback`` for the last
``windowSize`` predictions that got one.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from mlops_core.wire import WireModel

#: the test metric an estimate is compared with (``metrics.json``'s ``test`` map)
TEST_ACCURACY: Final = "test_accuracy"


class IntervalEstimate(WireModel):
    """An estimated metric and the 95% interval its realized value should fall in."""

    value: float = Field(ge=0, le=1)
    lower: float = Field(ge=0, le=1)
    upper: float = Field(ge=0, le=1)


class ModelPerformanceReport(WireModel):
    """One pod's performance estimate of one served version."""

    model: str
    version: str
    window_size: int = Field(ge=1)
    calibrated: bool = Field(
        description="Whether the version has a calibration map; without one (a version "
        "trained before calibration existed) nothing is estimated."
    )
    samples: int = Field(ge=0, description="Predictions in this pod's window.")
    accuracy: IntervalEstimate | None = Field(
        default=None, description="Estimated accuracy; null until the window holds enough."
    )
    macro_f1: IntervalEstimate | None = Field(
        default=None, description="Estimated macro F1 (more than two classes only)."
    )
    test_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="The version's accuracy on its test split."
    )
    realized_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="Accuracy of the last predictions given a label."
    )
    realized_samples: int = Field(default=0, ge=0, description="Labels behind realizedAccuracy.")

    def to_json_dict(self) -> dict[str, object]:
        """The wire form with nulls kept (an estimate not yet made says so)."""
        return self.model_dump(mode="json", by_alias=True)
