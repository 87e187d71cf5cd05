"""Preprocessing: fit on training columns, identical transform of columns and records."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.preprocessing import (
    PAD_INDEX,
    UNK_INDEX,
    PreprocessingError,
    TabularPreprocessor,
    TextPreprocessor,
    fit_tabular,
    fit_text,
    from_json,
    records_to_columns,
    tokenize,
)

pytestmark = pytest.mark.unit

TRAIN = {
    "age": [20.0, 30.0, 40.0, None],
    "plan": ["basic", "pro", "basic", "team"],
    "active": [True, False, True, True],
}


def test_standardises_numeric_with_training_mean_and_std() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age", "plan", "active"])
    age = pre.numeric[0]
    assert (age.name, age.mean) == ("age", 30.0)
    assert age.std == pytest.approx(np.std([20.0, 30.0, 40.0]))
    out = pre.transform_columns(TRAIN)
    assert out.dtype == np.float32
    assert out.shape == (4, pre.num_features) == (4, 1 + 3 + 1)
    assert out[:, 0] == pytest.approx([-1.2247449, 0.0, 1.2247449, 0.0])  # missing → mean → 0


def test_text_columns_become_categorical_and_unknown_category_is_all_zeros() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age", "plan"])
    assert [c.name for c in pre.categorical] == ["plan"]
    assert pre.output_names() == ["age", "plan=basic", "plan=pro", "plan=team"]
    out = pre.transform([{"age": 30, "plan": "pro"}, {"age": 30, "plan": "enterprise"}])
    assert out[0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert out[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_records_and_columns_transform_identically() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age", "plan", "active"], categorical_columns=[])
    records = [
        dict(zip(TRAIN, values, strict=True)) for values in zip(*TRAIN.values(), strict=True)
    ]
    np.testing.assert_array_equal(pre.transform(records), pre.transform_columns(TRAIN))


def test_declared_categorical_numbers_are_one_hot() -> None:
    pre = fit_tabular({"zone": [1, 2, 2]}, feature_columns=["zone"], categorical_columns=["zone"])
    assert pre.categorical[0].categories == ["1", "2"]
    assert pre.transform([{"zone": 2.0}]).tolist() == [[0.0, 1.0]]


def test_constant_column_does_not_divide_by_zero() -> None:
    pre = fit_tabular({"x": [5, 5, 5]}, feature_columns=["x"])
    assert pre.numeric[0].std == 1.0
    assert pre.transform([{"x": 7}]).tolist() == [[2.0]]


def test_missing_column_in_a_record_names_it() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age", "plan"])
    with pytest.raises(PreprocessingError, match=r"record 1 has no column 'plan'"):
        pre.transform([{"age": 1, "plan": "pro"}, {"age": 2}])


def test_wrong_type_for_a_numeric_column_says_what_to_send() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age"])
    with pytest.raises(PreprocessingError, match=r"column 'age' is numeric but row 0 holds str"):
        pre.transform([{"age": "old"}])


def test_fit_rejects_unknown_columns() -> None:
    with pytest.raises(PreprocessingError, match=r"missing column 'height'"):
        fit_tabular(TRAIN, feature_columns=["height"])
    with pytest.raises(PreprocessingError, match=r"not feature columns"):
        fit_tabular(TRAIN, feature_columns=["age"], categorical_columns=["plan"])


def test_tokenizer_lowercases_and_keeps_inner_punctuation() -> None:
    assert tokenize("Click HERE: evil-site.com/login, it's URGENT!") == [
        "click",
        "here",
        "evil-site.com",
        "login",
        "it's",
        "urgent",
    ]


def test_text_vocabulary_is_by_frequency_with_pad_and_unk_first() -> None:
    pre = fit_text({"t": ["b a a", "c a b", None]}, text_column="t", max_vocab_size=4, max_length=4)
    assert pre.vocabulary == ["<pad>", "<unk>", "a", "b"]
    out = pre.transform([{"t": "A c b a a a"}, {"t": ""}])
    assert out.dtype == np.int64
    assert out.tolist() == [[2, UNK_INDEX, 3, 2], [PAD_INDEX] * 4]


def test_text_column_must_hold_strings() -> None:
    pre = fit_text({"t": ["a b"]}, text_column="t", max_vocab_size=10, max_length=3)
    with pytest.raises(PreprocessingError, match=r"expected a string"):
        pre.transform([{"t": 12}])


@pytest.mark.parametrize(
    "pre",
    [
        fit_tabular(TRAIN, feature_columns=["age", "plan", "active"]),
        fit_text({"t": ["x y z", "y"]}, text_column="t", max_vocab_size=10, max_length=5),
    ],
)
def test_json_round_trip_transforms_identically(
    pre: TabularPreprocessor | TextPreprocessor,
) -> None:
    again = from_json(pre.to_json())
    assert type(again) is type(pre)
    assert again == pre
    records = [{"age": 25, "plan": "pro", "active": False, "t": "y z q"}]
    np.testing.assert_array_equal(again.transform(records), pre.transform(records))


def test_invalid_json_is_a_preprocessing_error() -> None:
    with pytest.raises(PreprocessingError, match=r"preprocessing.json is not valid"):
        from_json(b'{"kind": "image"}')


def test_records_and_columns_give_the_same_matrix() -> None:
    """The server's record path builds exactly what the trainer's column path builds."""
    rng = np.random.default_rng(3)
    train = {
        "x": rng.normal(5, 2, 200).tolist(),
        "n": rng.integers(0, 9, 200).tolist(),
        "color": rng.choice(["red", "blue", "7"], 200).tolist(),
        "flag": rng.choice([True, False], 200).tolist(),
    }
    pre = fit_tabular(
        train, feature_columns=["x", "color", "n", "flag"], categorical_columns=["color"]
    )
    records = [
        {"x": 1.5, "color": "red", "n": 3, "flag": True},
        {"x": None, "color": None, "n": 2.5, "flag": False},
        {"x": float("nan"), "color": 7.0, "n": -1, "flag": True},
        {"x": 1e30, "color": "green", "n": 0, "flag": False, "extra": "ignored"},
        {"x": 0, "color": float("nan"), "n": 8, "flag": True},
    ]
    columns = {name: [r[name] for r in records] for name in ("x", "color", "n", "flag")}
    fast = pre.transform(records)
    assert fast.dtype == np.float32
    assert np.array_equal(fast, pre.transform_columns(columns))
    assert fast[2, 1 + pre.categorical[0].categories.index("7")] == 1.0  # 7.0 is category "7"
    with pytest.raises(PreprocessingError, match="holds str"):
        pre.transform([{**records[0], "x": "1.5"}])
    with pytest.raises(PreprocessingError, match="has no column 'color'"):
        pre.transform([{"x": 1.0, "n": 1, "flag": True}])
    with pytest.raises(PreprocessingError, match="is a list"):
        pre.transform([[1.0, "red", 1, True]])  # type: ignore[list-item]


def test_drift_features_of_records_match_the_checked_column_path() -> None:
    from mlops_core.preprocessing import numeric_values, records_to_columns
    from mlops_core.reference_stats import drift_features

    pre = fit_tabular(TRAIN, feature_columns=["age", "plan", "active"])
    records = [
        {"age": 25, "plan": "pro", "active": True},
        {"age": None, "plan": "basic", "active": False},
        {"age": 31.5, "plan": None, "active": True},
    ]
    names = [c.name for c in pre.numeric]
    columns = records_to_columns(records, names)
    checked = {n: [float(v) for v in numeric_values(n, columns[n])] for n in names}
    found = drift_features(pre, records)
    assert list(found) == names
    for name in names:
        np.testing.assert_array_equal(found[name], checked[name])
    with pytest.raises(PreprocessingError, match="holds str"):
        drift_features(pre, [{"age": "old", "plan": "pro", "active": True}])


@pytest.mark.unit
def test_a_value_beyond_float32_after_scaling_is_refused_naming_instance_and_feature() -> None:
    pre = fit_tabular(TRAIN, feature_columns=["age", "plan"])
    big = {"age": 3.3e39, "plan": "pro"}
    for encode in (
        pre.transform,
        lambda rows: pre.transform_columns(records_to_columns(rows, ["age", "plan"])),
    ):
        with pytest.raises(
            PreprocessingError, match=r"instance 1: 'age' is out of range after scaling"
        ):
            encode([{"age": 30, "plan": "pro"}, big])
    assert np.isinf(pre.transform([{"age": float("inf"), "plan": "pro"}])).any()  # sent as is
