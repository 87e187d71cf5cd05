"""The model zoo rebuilds every architecture from config.json alone."""

from __future__ import annotations

import pytest
import torch

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.models import UnknownArchitectureError, build_model, probabilities
from mlops_core.training_spec import ModelSpec

pytestmark = pytest.mark.unit


def _config(architecture: str, **model: object) -> ArtifactConfig:
    text = architecture in ("lstm", "cnn_text")
    return ArtifactConfig.model_validate(
        {
            "architecture": architecture,
            "task": "text" if text else "tabular",
            "model": {"architecture": architecture, **model},
            "classLabels": ["a", "b", "c"] if model.get("loss") is None else ["a", "b"],
            "labelColumn": "label",
            "featureNames": ["text"] if text else ["x", "y"],
            "textColumn": "text" if text else None,
            "numFeatures": None if text else 7,
            "vocabSize": 50 if text else None,
            "maxSequenceLength": 12 if text else None,
        }
    )


def _inputs(config: ArtifactConfig, batch: int = 4) -> torch.Tensor:
    if config.task == "text":
        ids = torch.randint(2, 50, (batch, 12))
        ids[0, 3:] = 0  # a short text, padded
        ids[1, :] = 0  # an empty text
        return ids
    return torch.randn(batch, 7)


@pytest.mark.parametrize("architecture", ["logistic_regression", "mlp", "lstm", "cnn_text"])
def test_each_architecture_outputs_one_logit_per_class(architecture: str) -> None:
    config = _config(architecture)
    module = build_model(config)
    logits = module(_inputs(config))
    assert logits.shape == (4, 3)
    proba = probabilities(logits)
    assert torch.allclose(proba.sum(dim=1), torch.ones(4))


@pytest.mark.parametrize("architecture", ["logistic_regression", "mlp", "lstm", "cnn_text"])
def test_same_config_and_seed_give_the_same_weights(architecture: str) -> None:
    config = _config(architecture)
    torch.manual_seed(7)
    first = build_model(config).state_dict()
    torch.manual_seed(7)
    second = build_model(config).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_mlp_hidden_sizes_come_from_the_spec() -> None:
    module = build_model(_config("mlp", hiddenSizes=[16, 8, 4]))
    widths = [m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 8, 4, 3]


def test_binary_cross_entropy_has_one_logit_and_sigmoid_probabilities() -> None:
    config = _config("logistic_regression", loss="binary_cross_entropy")
    assert config.output_size == 1
    logits = build_model(config)(_inputs(config))
    assert logits.shape == (4, 1)
    proba = probabilities(logits)
    assert proba.shape == (4, 2)
    assert torch.allclose(proba[:, 1], torch.sigmoid(logits[:, 0]))


def test_config_rejects_mismatches_with_clear_messages() -> None:
    with pytest.raises(ValueError, match=r"needs exactly 2 classes"):
        ArtifactConfig(
            architecture="mlp",
            task="tabular",
            model=ModelSpec(architecture="mlp", loss="binary_cross_entropy"),
            class_labels=["a", "b", "c"],
            label_column="l",
            feature_names=["x"],
            num_features=1,
        )
    with pytest.raises(ValueError, match=r"differs from model.architecture"):
        ArtifactConfig(
            architecture="mlp",
            task="tabular",
            model=ModelSpec(architecture="logistic_regression"),
            class_labels=["a", "b"],
            label_column="l",
            feature_names=["x"],
            num_features=1,
        )
    with pytest.raises(ValueError, match=r"needs textColumn, vocabSize"):
        ArtifactConfig(
            architecture="lstm",
            task="text",
            model=ModelSpec(architecture="lstm"),
            class_labels=["a", "b"],
            label_column="l",
            feature_names=["t"],
        )


def test_unknown_architecture_names_the_zoo() -> None:
    config = _config("mlp").model_construct(architecture="transformer")
    with pytest.raises(
        UnknownArchitectureError, match=r"the zoo has cnn_text, logistic_regression"
    ):
        build_model(config)
