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
