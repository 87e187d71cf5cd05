"""Reference statistics of the training split and the drift features of request records."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlops_core.preprocessing import PreprocessingError, fit_tabular, fit_text
from mlops_core.reference_stats import (
    OOV_RATE,
    TEXT_LENGTH,
    CategoricalFeatureStats,
    NumericFeatureStats,
    ReferenceStats,
    compute_reference_stats,
    drift_categories,
    drift_features,
    histogram,
    numeric_stats,
    quantile_edges,
)

pytestmark = pytest.mark.unit


def test_numeric_feature_has_ten_quantile_bins_of_equal_mass() -> None:
    values = np.arange(1000, dtype=np.float64)
    stats = numeric_stats("x", values)
    assert len(stats.bin_edges) == 11
    assert len(stats.counts) == 10
    assert stats.counts == [100] * 10
    assert (stats.min, stats.max, stats.count) == (0.0, 999.0, 1000)
    assert stats.mean == pytest.approx(499.5)
    assert stats.std == pytest.approx(np.std(values))


def test_repeated_quantiles_merge_and_constant_feature_has_one_bin() -> None:
    edges = quantile_edges(np.array([0.0] * 60 + [1.0] * 40))
    assert edges[0] == 0.0
    assert edges[-1] == 1.0
    assert len(edges) < 11
    assert all(a < b for a, b in itertools.pairwise(edges))
    constant = numeric_stats("c", [3.0, 3.0, 3.0])
    assert constant.bin_edges == [3.0, 3.0]
    assert constant.counts == [3]


def test_histogram_convention_clips_outliers_into_end_bins_and_skips_nan() -> None:
    edges = [0.0, 1.0, 2.0, 3.0]
    assert histogram(edges, [-5.0, 0.0, 0.5, 1.0, 2.99, 3.0, 99.0, float("nan")]) == [3, 1, 3]


def test_tabular_reference_describes_raw_columns() -> None:
    columns = {"x": [1.0, 2.0, 3.0, None], "plan": ["a", "b", "a", None]}
    pre = fit_tabular(columns, feature_columns=["x", "plan"])
    ref = compute_reference_stats(pre, columns)
    x = ref.feature("x")
    assert isinstance(x, NumericFeatureStats)
    assert x.count == 3
    assert sum(x.counts) == 3
    plan = ref.feature("plan")
    assert isinstance(plan, CategoricalFeatureStats)
    assert (plan.categories, plan.counts) == (["a", "b"], [2, 1])
    wire = ref.to_wire()
    first = wire["features"][0]  # type: ignore[index]
    assert set(first) == {
        "name",
        "kind",
        "binEdges",
        "counts",
        "mean",
        "std",
        "min",
        "max",
        "count",
        "quantileProbabilities",
        "quantiles",
    }
    assert wire["formatVersion"] == 2
    assert ReferenceStats.from_json(ref.to_json()) == ref


def test_text_reference_has_length_and_oov_rate() -> None:
    columns = {"t": ["one two three", "two two", "three"]}
    pre = fit_text(columns, text_column="t", max_vocab_size=100, max_length=2)
    ref = compute_reference_stats(pre, columns)
    assert [f.name for f in ref.features] == [TEXT_LENGTH, OOV_RATE]
    length = ref.feature(TEXT_LENGTH)
    assert isinstance(length, NumericFeatureStats)
    assert (length.min, length.max, length.mean) == (1.0, 3.0, 2.0)  # before truncation


def test_drift_features_of_records_match_the_reference_names() -> None:
    columns = {"x": [1.0, 2.0], "plan": ["a", "b"]}
    pre = fit_tabular(columns, feature_columns=["x", "plan"])
    records = [{"x": 5, "plan": "zzz"}, {"x": None, "plan": "a"}]
    values = drift_features(pre, records)
    assert list(values) == ["x"]
    assert values["x"][0] == 5.0
    assert np.isnan(values["x"][1])
    assert drift_categories(pre, records) == {"plan": ["zzz", "a"]}
    with pytest.raises(PreprocessingError, match=r"no column 'x'"):
        drift_features(pre, [{"plan": "a"}])


def test_text_drift_features_count_unknown_words() -> None:
    pre = fit_text({"t": ["alpha beta"]}, text_column="t", max_vocab_size=100, max_length=8)
    values = drift_features(pre, [{"t": "alpha gamma delta beta"}, {"t": ""}])
    assert values == {TEXT_LENGTH: [4.0, 0.0], OOV_RATE: [0.5, 0.0]}
    assert drift_categories(pre, [{"t": "x"}]) == {}
