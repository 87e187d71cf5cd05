"""Explanations of predictions: an attribution per input column (tabular) or per token (text)
and the base value they start from, computed by shap's Permutation explainer.

Why this explainer, for both kinds of model: it is model-agnostic (it only calls the network,
so it works on either runtime), its attributions add up exactly to the prediction minus the
base value (each sampled permutation telescopes from "nothing known" to "everything known"), and
its cost grows linearly with the number of features (2·features + 1 model calls per
permutation), where the Exact explainer needs 2^features calls and the Kernel explainer solves a
weighted regression whose additivity is only a constraint of the fit.

The players of the game are the model's own inputs, not its encoded columns:
- tabular: each raw column (a categorical column's one-hot block moves as one). A column that is
  "absent" takes the values of a background sample drawn from the reference statistics stored
  with the artifact (each column's histogram, seeded), and the value of a coalition is the mean
  answer over that background: interventional Shapley values. For logistic regression the
  explained output is the log-odds (2 classes) or the centred log-probabilities (more), where
  the model is linear, so the attributions are the exact linear Shapley values
  ``w·(x − E[x])``; for the other models it is the probability of the predicted class.
- text: each token of the instance; an absent token is removed from the text; the base value is
  the answer for the empty text.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from mlops_core.preprocessing import (
    PAD_INDEX,
    Records,
    TabularPreprocessor,
    TextPreprocessor,
    text_values,
    tokenize,
)
from mlops_core.reference_stats import CategoricalFeatureStats, NumericFeatureStats, ReferenceStats

#: rows of the background sample (tabular): every coalition costs this many model rows
BACKGROUND_ROWS: Final = 64
#: permutations sampled per instance
PERMUTATIONS: Final = 8
BACKGROUND_SEED: Final = 0
#: the largest |sum(attributions) - (prediction - base value)| an answer may carry
ADDITIVITY_TOLERANCE: Final = 1e-6

Output = Literal["probability", "log-odds", "centred-log-probability"]
Matrix = np.ndarray[Any, np.dtype[np.float64]]
ProbabilityFunction = Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]


@dataclass(frozen=True)
class Attribution:
    feature: str
    value: float


@dataclass(frozen=True)
class Explanation:
    """One instance: its label, the output explained, and how each feature moved it."""

    label: str
    output: Output
    prediction: float
    base_value: float
    attributions: list[Attribution]

    @property
    def additivity_error(self) -> float:
        total = sum(a.value for a in self.attributions)
        return abs(total - (self.prediction - self.base_value))

    def to_wire(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "output": self.output,
            "prediction": self.prediction,
            "baseValue": self.base_value,
            "attributions": [{"feature": a.feature, "value": a.value} for a in self.attributions],
            "additivityError": self.additivity_error,
        }


def background_records(
    reference: ReferenceStats, columns: Sequence[str], *, rows: int = BACKGROUND_ROWS
) -> list[dict[str, Any]]:
    """A seeded sample of raw records, each column drawn from its reference histogram (a
    uniform value within a bin chosen by the bin counts; a category by its counts)."""
    rng = np.random.default_rng(BACKGROUND_SEED)
    sampled: dict[str, list[Any]] = {}
    for name in columns:
        stats = reference.feature(name)
        counts = np.asarray(stats.counts, dtype=np.float64)
        weights = counts / counts.sum() if counts.sum() > 0 else None
        if isinstance(stats, NumericFeatureStats):
            edges = np.asarray(stats.bin_edges, dtype=np.float64)
            bins = rng.choice(len(counts), size=rows, p=weights)
            sampled[name] = rng.uniform(edges[bins], edges[bins + 1]).tolist()
        elif isinstance(stats, CategoricalFeatureStats):
            picks = rng.choice(len(stats.categories), size=rows, p=weights)
            sampled[name] = [stats.categories[i] for i in picks]
    return [{name: sampled[name][i] for name in columns} for i in range(rows)]


def _column_blocks(pre: TabularPreprocessor) -> list[np.ndarray[Any, np.dtype[np.intp]]]:
    """The encoded column indices of each raw column, in ``feature_columns`` order."""
    widths = {c.name: 1 for c in pre.numeric}
    widths.update({c.name: len(c.categories) for c in pre.categorical})
    blocks, start = [], 0
    for name in pre.feature_columns:
        blocks.append(np.arange(start, start + widths[name]))
        start += widths[name]
    return blocks


def _transform(output: Output, proba: np.ndarray[Any, Any], label: int) -> Matrix:
    """The explained output of class ``label`` from probabilities ``[rows, classes]``."""
    p = np.clip(proba.astype(np.float64), 1e-300, 1.0)
    if output == "probability":
        return np.asarray(p[:, label], dtype=np.float64)
    logs = np.log(p)
    if output == "log-odds":  # two classes: log(p / (1 - p)) from both probabilities
        return np.asarray(logs[:, label] - logs[:, 1 - label], dtype=np.float64)
    return np.asarray(logs[:, label] - logs.mean(axis=1), dtype=np.float64)


def output_for(architecture: str, num_classes: int) -> Output:
    if architecture != "logistic_regression":
        return "probability"
    return "log-odds" if num_classes == 2 else "centred-log-probability"


def _permutation_values(
    value_of: Callable[[np.ndarray[Any, Any]], Matrix], players: int
) -> tuple[Matrix, float]:
    """shap's Permutation explainer over ``players`` on/off inputs: attributions, base value."""
    with warnings.catch_warnings():
        # shap's import touches optional plotting libraries and their deprecations, which are
        # nothing an explanation can act on; imported here, on the first explanation only
        warnings.simplefilter("ignore")
        import shap

    masker = shap.maskers.Independent(np.zeros((1, players)))
    explainer = shap.explainers.Permutation(value_of, masker, seed=BACKGROUND_SEED)
    result = explainer(
        np.ones((1, players)), max_evals=PERMUTATIONS * (2 * players + 1), silent=True
    )
    return np.asarray(result.values[0], dtype=np.float64), float(result.base_values[0])


class TabularExplainer:
    """Attributions per raw column against a background from the reference statistics."""

    def __init__(
        self,
        pre: TabularPreprocessor,
        reference: ReferenceStats,
        *,
        output: Output,
        probabilities: ProbabilityFunction,
    ) -> None:
        self._pre = pre
        self._output = output
        self._probabilities = probabilities
        self._blocks = _column_blocks(pre)
        self.background = pre.transform(background_records(reference, pre.feature_columns))

    def explain_row(self, row: np.ndarray[Any, Any], label: int) -> tuple[Matrix, float, float]:
        background = self.background
        columns = len(self._blocks)

        def value_of(coalitions: np.ndarray[Any, Any]) -> Matrix:
            keep = np.zeros((len(coalitions), background.shape[1]), dtype=bool)
            for j, block in enumerate(self._blocks):
                keep[:, block] = coalitions[:, j : j + 1] > 0.5
            mixed = np.where(keep[:, None, :], row[None, None, :], background[None, :, :])
            flat = mixed.reshape(-1, background.shape[1]).astype(np.float32)
            values = _transform(self._output, self._probabilities(flat), label)
            means = values.reshape(len(coalitions), len(background)).mean(axis=1)
            return np.asarray(means, dtype=np.float64)

        values, base = _permutation_values(value_of, columns)
        prediction = float(value_of(np.ones((1, columns)))[0])
        return values, base, prediction

    def feature_names(self, record: dict[str, Any]) -> list[str]:
        return list(self._pre.feature_columns)


class TextExplainer:
    """Attributions per token of the instance; an absent token is removed from the text."""

    def __init__(self, pre: TextPreprocessor, *, probabilities: ProbabilityFunction) -> None:
        self._pre = pre
        self._probabilities = probabilities

    def explain_row(self, row: np.ndarray[Any, Any], label: int) -> tuple[Matrix, float, float]:
        tokens = row[row != PAD_INDEX]
        width = len(row)

        def value_of(coalitions: np.ndarray[Any, Any]) -> Matrix:
            ids = np.full((len(coalitions), width), PAD_INDEX, dtype=np.int64)
            for i, coalition in enumerate(coalitions):
                kept = tokens[coalition > 0.5]
                ids[i, : len(kept)] = kept
            return _transform("probability", self._probabilities(ids), label)

        if len(tokens) == 0:
            base = float(value_of(np.zeros((1, 0)))[0])
            return np.zeros(0), base, base
        values, base = _permutation_values(value_of, len(tokens))
        prediction = float(value_of(np.ones((1, len(tokens))))[0])
        return values, base, prediction

    def feature_names(self, record: dict[str, Any]) -> list[str]:
        column = self._pre.text_column
        text = text_values(column, [record.get(column)])[0]
        return tokenize(text)[: self._pre.max_length]


class ModelExplainer:
    """Explanations of one served version's predictions (blocking: run it off the loop)."""

    def __init__(
        self,
        *,
        preprocessor: TabularPreprocessor | TextPreprocessor,
        reference: ReferenceStats,
        architecture: str,
        class_labels: list[str],
        probabilities: ProbabilityFunction,
    ) -> None:
        self._pre = preprocessor
        self._labels = class_labels
        self._probabilities = probabilities
        self.output: Output
        self._explainer: TabularExplainer | TextExplainer
        if isinstance(preprocessor, TabularPreprocessor):
            self.output = output_for(architecture, len(class_labels))
            self._explainer = TabularExplainer(
                preprocessor, reference, output=self.output, probabilities=probabilities
            )
        else:
            self.output = "probability"
            self._explainer = TextExplainer(preprocessor, probabilities=probabilities)

    def explain(self, records: Records) -> list[Explanation]:
        rows = self._pre.transform(records)
        labels = self._probabilities(rows).argmax(axis=1)
        answers = []
        for record, row, label in zip(records, rows, labels, strict=True):
            values, base, prediction = self._explainer.explain_row(row, int(label))
            names = self._explainer.feature_names(dict(record))
            answers.append(
                Explanation(
                    label=self._labels[int(label)],
                    output=self.output,
                    prediction=prediction,
                    base_value=base,
                    attributions=[
                        Attribution(n, float(v)) for n, v in zip(names, values, strict=True)
                    ],
                )
            )
        return answers
