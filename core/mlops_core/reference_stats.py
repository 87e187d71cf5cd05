"""Reference statistics of the training split, the baseline that serving drift is scored against.

``reference_stats.json`` is ``{"formatVersion": 2, "features": [...]}`` with, per raw numeric
input column::

    {"name", "kind": "numeric", "binEdges": [k+1 quantile edges], "counts": [k],
     "mean", "std", "min", "max", "count",
     "quantileProbabilities": [m+1 from 0 to 1], "quantiles": [m+1 values]}

per categorical column ``{"name", "kind": "categorical", "categories", "counts"}``, and for text
models two derived numeric features: ``text_length`` (tokens per text, before truncation) and
``oov_rate`` (share of those tokens outside the vocabulary).

``quantileProbabilities`` and ``quantiles`` are the quantile sketch that the exact Wasserstein
score reads: the quantile function (numpy's linear quantiles) at up to
``QUANTILE_SKETCH_SIZE + 1`` probabilities, denser where the distribution has long tails or
jumps (``mlops_core.drift.quantile_sketch``). Format 1 (files without ``formatVersion``) had
no sketch; such files still load and score, with the Wasserstein score on the bins.

Binning convention (``histogram``): bin ``i`` holds ``edges[i] <= x < edges[i+1]``, the last bin
also holds ``x == edges[-1]``, and values outside the edges count in the first or last bin.
Repeated quantiles are merged, so a feature with few distinct values has fewer than
``DEFAULT_BINS`` bins; a constant one has a single bin ``[v, v]``. Missing values are not counted.

``drift_features`` and ``drift_categories`` extract exactly these features from raw request
records, so the server scores drift on what the reference describes. The drift math lives in
``mlops_core.drift``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator

from mlops_core.drift import (
    DriftError,
    NumericReference,
    finite_values,
    quantile_sketch,
    sorted_bin_counts,
    sorted_copy,
    sorted_quantiles,
)
from mlops_core.preprocessing import (
    Columns,
    PreprocessingError,
    Records,
    TabularPreprocessor,
    TextPreprocessor,
    category_values,
    numeric_values,
    records_to_columns,
    text_values,
    tokenize,
)
from mlops_core.storage import StorageError, open_store
from mlops_core.wire import WireModel

MAX_REFERENCE_BYTES = 32 * 1024 * 1024
DEFAULT_BINS = 10
QUANTILE_SKETCH_SIZE = 500
#: 1: bins only; 2: bins and the quantile sketch of every numeric feature
FORMAT_VERSION = 2
TEXT_LENGTH = "text_length"
OOV_RATE = "oov_rate"


class ReferenceStatsError(ValueError):
    """Reference statistics that cannot be read or do not fit the model; the message says why."""


class NumericFeatureStats(WireModel):
    """Distribution of one numeric feature in the training split."""

    name: str
    kind: Literal["numeric"] = "numeric"
    bin_edges: list[float] = Field(min_length=2, description="k+1 increasing quantile edges.")
    counts: list[int] = Field(min_length=1, description="Training values per bin (k).")
    mean: float
    std: float
    min: float
    max: float
    count: int = Field(ge=0, description="Non-missing training values.")
    quantile_probabilities: list[float] | None = Field(
        default=None, min_length=2, description="Knots of the quantile sketch, 0 to 1 (format 2)."
    )
    quantiles: list[float] | None = Field(
        default=None, min_length=2, description="Quantiles at those probabilities (format 2)."
    )


class CategoricalFeatureStats(WireModel):
    """Category frequencies of one categorical feature in the training split."""

    name: str
    kind: Literal["categorical"] = "categorical"
    categories: list[str]
    counts: list[int]


FeatureStats = Annotated[NumericFeatureStats | CategoricalFeatureStats, Field(discriminator="kind")]


class ReferenceStats(WireModel):
    """The whole ``reference_stats.json``."""

    format_version: int = Field(default=1, ge=1, description="1 when absent (bins only).")
    features: list[FeatureStats]

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value > FORMAT_VERSION:
            raise ValueError(
                f"format version {value} is newer than this code reads ({FORMAT_VERSION}): "
                "upgrade the serving image, or write the statistics with an older trainer"
            )
        return value

    def feature(self, name: str) -> NumericFeatureStats | CategoricalFeatureStats:
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(f"reference statistics have no feature {name!r}")

    def numeric(self) -> list[NumericFeatureStats]:
        return [f for f in self.features if isinstance(f, NumericFeatureStats)]

    def categorical(self) -> list[CategoricalFeatureStats]:
        return [f for f in self.features if isinstance(f, CategoricalFeatureStats)]

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> ReferenceStats:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise ReferenceStatsError(f"reference_stats.json is not valid: {exc}") from exc


def read_reference(uri: str, *, client: Any | None = None) -> ReferenceStats:
    """Reference statistics from a JSON object at ``uri`` (``s3://bucket/key.json`` or a path)."""
    parent, _, name = uri.rstrip("/").rpartition("/")
    if not parent or not name:
        raise ReferenceStatsError(f"{uri!r} does not name a file: use s3://bucket/path/stats.json")
    try:
        data = open_store(parent, client).read_bytes(name)
    except StorageError as exc:
        raise ReferenceStatsError(f"cannot read reference statistics {uri}: {exc}") from exc
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceStatsError(
            f"{uri} is {len(data)} bytes; reference statistics may be {MAX_REFERENCE_BYTES}"
        )
    return ReferenceStats.from_json(data)


def check_replacement(candidate: ReferenceStats, training: ReferenceStats) -> None:
    """Raise ReferenceStatsError unless ``candidate`` describes the same features as the
    model's ``training`` statistics, with the same kinds, and every one of them is usable."""
    expected = {f.name: f.kind for f in training.features}
    found = {f.name: f.kind for f in candidate.features}
    problems = [f"missing feature {name!r}" for name in expected if name not in found]
    problems += [
        f"feature {name!r} is {found[name]} here but {kind} in the model"
        for name, kind in expected.items()
        if name in found and found[name] != kind
    ]
    problems += [f"{name!r} is not an input of the model" for name in found if name not in expected]
    for item in candidate.numeric():
        try:
            NumericReference.build(
                edges=item.bin_edges,
                counts=item.counts,
                std=item.std,
                probabilities=item.quantile_probabilities,
                quantiles=item.quantiles,
            )
        except DriftError as exc:
            problems.append(f"feature {item.name!r}: {exc}")
    if problems:
        raise ReferenceStatsError(
            "the reference statistics do not fit the model: " + "; ".join(problems[:10])
        )


def quantile_edges(values: np.ndarray[Any, Any], bins: int = DEFAULT_BINS) -> list[float]:
    """At most ``bins + 1`` distinct quantile edges of ``values`` (two equal edges if constant)."""
    return _edges(np.sort(np.asarray(values, dtype=np.float64)), bins)


def _edges(ordered: np.ndarray[Any, Any], bins: int) -> list[float]:
    edges = np.unique(sorted_quantiles(ordered, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        return [float(edges[0]), float(edges[0])]
    return [float(e) for e in edges]


def histogram(edges: Sequence[float], values: Sequence[float] | np.ndarray[Any, Any]) -> list[int]:
    """Counts of ``values`` per bin of ``edges`` (see the module docstring); NaNs are skipped."""
    data = np.asarray(values, dtype=np.float64)
    data = np.sort(data[~np.isnan(data)])
    return [int(c) for c in sorted_bin_counts(data, np.asarray(edges, dtype=np.float64))]


def numeric_stats(
    name: str,
    values: Sequence[float] | np.ndarray[Any, Any],
    bins: int = DEFAULT_BINS,
    *,
    sketch_size: int = QUANTILE_SKETCH_SIZE,
) -> NumericFeatureStats:
    """Bins, moments and the quantile sketch of one numeric feature, from one sort
    (``mlops_core.drift.sorted_copy``; the moments, min and max are of the exact values)."""
    exact = finite_values(values)
    if exact.size == 0:
        raise ValueError(f"feature {name!r} has no values to describe")
    std = float(exact.std())
    data = sorted_copy(exact, std)
    edges = _edges(data, bins)
    probabilities, quantiles = quantile_sketch(data, sketch_size)
    return NumericFeatureStats(
        name=name,
        bin_edges=edges,
        counts=[int(c) for c in sorted_bin_counts(data, np.asarray(edges))],
        mean=float(exact.mean()),
        std=std,
        min=float(data[0]),
        max=float(data[-1]),
        count=int(data.size),
        quantile_probabilities=probabilities.tolist(),
        quantiles=quantiles.tolist(),
    )


def categorical_stats(name: str, values: Sequence[str | None]) -> CategoricalFeatureStats:
    counts = Counter(v for v in values if v is not None)
    categories = sorted(counts)
    return CategoricalFeatureStats(
        name=name, categories=categories, counts=[counts[c] for c in categories]
    )


def text_drift_values(
    preprocessor: TextPreprocessor, texts: Sequence[str]
) -> dict[str, list[float]]:
    """``text_length`` and ``oov_rate`` of each text."""
    lookup = preprocessor.lookup()
    lengths: list[float] = []
    oov: list[float] = []
    for text in texts:
        tokens = tokenize(text)
        lengths.append(float(len(tokens)))
        unknown = sum(1 for t in tokens if t not in lookup)
        oov.append(unknown / len(tokens) if tokens else 0.0)
    return {TEXT_LENGTH: lengths, OOV_RATE: oov}


def compute_reference_stats(
    preprocessor: TabularPreprocessor | TextPreprocessor,
    columns: Columns,
    *,
    bins: int = DEFAULT_BINS,
) -> ReferenceStats:
    """Reference statistics of the training split ``columns``, per raw input feature."""
    if isinstance(preprocessor, TextPreprocessor):
        texts = text_values(preprocessor.text_column, _get(columns, preprocessor.text_column))
        derived = text_drift_values(preprocessor, texts)
        return ReferenceStats(
            format_version=FORMAT_VERSION,
            features=[numeric_stats(name, values, bins) for name, values in derived.items()],
        )
    numeric = {c.name for c in preprocessor.numeric}
    features: list[NumericFeatureStats | CategoricalFeatureStats] = []
    for name in preprocessor.feature_columns:
        values = _get(columns, name)
        if name in numeric:
            features.append(numeric_stats(name, numeric_values(name, values), bins))
        else:
            features.append(categorical_stats(name, category_values(values)))
    return ReferenceStats(format_version=FORMAT_VERSION, features=features)


def _get(columns: Columns, name: str) -> Sequence[Any] | np.ndarray[Any, Any]:
    if name not in columns:
        raise PreprocessingError(f"missing column {name!r}")
    return columns[name]


def drift_features(
    preprocessor: TabularPreprocessor | TextPreprocessor, records: Records
) -> dict[str, list[float]]:
    """The numeric drift features of raw request ``records``, named as in the reference.

    Tabular: each numeric input column (missing values as NaN, which ``histogram`` skips).
    Text: ``text_length`` and ``oov_rate``. Raises PreprocessingError on malformed records.
    """
    if isinstance(preprocessor, TextPreprocessor):
        columns = records_to_columns(records, [preprocessor.text_column])
        texts = text_values(preprocessor.text_column, columns[preprocessor.text_column])
        return text_drift_values(preprocessor, texts)
    names = [c.name for c in preprocessor.numeric]
    try:  # the common case in one array; anything unusual takes the checked path below
        flat = [record[name] for record in records for name in names]
    except (KeyError, TypeError):
        flat = [""]
    if names and all(type(v) in _PLAIN_NUMBERS for v in flat):
        matrix = np.array(flat, dtype=np.float64).reshape(len(records), len(names))
        return dict(zip(names, matrix.T.tolist(), strict=True))
    columns = records_to_columns(records, names)
    return {name: [float(v) for v in numeric_values(name, columns[name])] for name in names}


_PLAIN_NUMBERS = frozenset({float, int, bool, type(None)})


def drift_categories(
    preprocessor: TabularPreprocessor | TextPreprocessor, records: Records
) -> dict[str, list[str | None]]:
    """The categorical drift features of raw request ``records`` (``None`` when missing)."""
    if isinstance(preprocessor, TextPreprocessor):
        return {}
    names = [c.name for c in preprocessor.categorical]
    columns = records_to_columns(records, names)
    return {name: category_values(columns[name]) for name in names}
