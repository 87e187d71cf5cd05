"""The model zoo: every architecture is rebuilt by name from ``config.json``, never unpickled.

Tabular models take float32 ``[batch, num_features]``; text models take int64 token ids
``[batch, max_sequence_length]`` padded with 0. Every model returns logits
``[batch, output_size]``; ``probabilities`` turns them into class probabilities.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.preprocessing import PAD_INDEX

CNN_KERNEL_SIZES = (2, 3, 4)


class LogisticRegression(nn.Module):
    def __init__(self, num_features: int, output_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x)
        return out


class MLP(nn.Module):
    def __init__(
        self, num_features: int, hidden_sizes: list[int], output_size: int, dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, output_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x)
        return out


class LSTMClassifier(nn.Module):
    """Embedding → bidirectional LSTM over the real tokens → last hidden states → linear."""

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden_dim: int, output_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_INDEX)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_dim, output_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != PAD_INDEX).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        features = torch.cat([hidden[-2], hidden[-1]], dim=1)
        out: torch.Tensor = self.head(self.dropout(features))
        return out


class CNNTextClassifier(nn.Module):
    """Embedding → 1-D convolutions of widths 2, 3, 4 → max over time → linear (Kim, 2014)."""

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden_dim: int, output_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_INDEX)
        self.convs = nn.ModuleList(
            nn.Conv1d(embedding_dim, hidden_dim, kernel_size=k, padding=k - 1)
            for k in CNN_KERNEL_SIZES
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim * len(CNN_KERNEL_SIZES), output_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(ids).transpose(1, 2)
        pooled = [torch.relu(conv(embedded)).amax(dim=2) for conv in self.convs]
        out: torch.Tensor = self.head(self.dropout(torch.cat(pooled, dim=1)))
        return out


def _logistic_regression(config: ArtifactConfig) -> nn.Module:
    assert config.num_features is not None
    return LogisticRegression(config.num_features, config.output_size)


def _mlp(config: ArtifactConfig) -> nn.Module:
    assert config.num_features is not None
    return MLP(
        config.num_features,
        list(config.model.hidden_sizes),
        config.output_size,
        config.model.dropout,
    )


def _text(
    cls: type[LSTMClassifier] | type[CNNTextClassifier],
) -> Callable[[ArtifactConfig], nn.Module]:
    def build(config: ArtifactConfig) -> nn.Module:
        assert config.vocab_size is not None
        return cls(
            config.vocab_size,
            config.model.embedding_dim,
            config.model.hidden_dim,
            config.output_size,
            config.model.dropout,
        )

    return build


ZOO: dict[str, Callable[[ArtifactConfig], nn.Module]] = {
    "logistic_regression": _logistic_regression,
    "mlp": _mlp,
    "lstm": _text(LSTMClassifier),
    "cnn_text": _text(CNNTextClassifier),
}


class UnknownArchitectureError(ValueError):
    """config.json names an architecture the zoo does not have."""


def build_model(config: ArtifactConfig) -> nn.Module:
    """A freshly initialised module for ``config`` (seed torch first for reproducible weights)."""
    try:
        builder = ZOO[config.architecture]
    except KeyError:
        raise UnknownArchitectureError(
            f"unknown architecture {config.architecture!r}; the zoo has {', '.join(sorted(ZOO))}"
        ) from None
    return builder(config)


def input_dtype(config: ArtifactConfig) -> torch.dtype:
    return torch.int64 if config.task == "text" else torch.float32


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``[batch, num_classes]`` from logits (1 logit = binary sigmoid)."""
    logits = logits.float()
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)
