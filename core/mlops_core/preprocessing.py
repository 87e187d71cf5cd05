"""Preprocessing fitted on the training split and applied identically by trainer and server.

Two kinds, both plain JSON (``preprocessing.json``) so loading never needs pickle:

- ``TabularPreprocessor``: numeric columns are standardised with the training mean and standard
  deviation (a missing value becomes the mean, i.e. 0 after scaling); categorical columns are
  one-hot encoded over the categories seen in training (an unknown or missing category is all
  zeros). The output is one float32 row per record, ``num_features`` wide.
- ``TextPreprocessor``: a lowercase word tokenizer and a vocabulary built from the training split
  (index 0 = padding, 1 = unknown), each text cut or padded to ``max_length`` token ids.

Inputs are either columns (name → sequence of values, what the trainer reads) or records (a list
of dicts, what the server receives); both paths share the same per-column code.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError

from mlops_core.wire import WireModel

#: Columns of a table: name → values (a list, or a numpy array from a columnar reader).
Columns = Mapping[str, Sequence[Any] | np.ndarray[Any, Any]]
#: Raw request records: one dict of column → value per example.
Records = Sequence[Mapping[str, Any]]

PAD_TOKEN = "<pad>"  # noqa: S105 (a vocabulary entry, not a secret)
UNK_TOKEN = "<unk>"  # noqa: S105
PAD_INDEX = 0
UNK_INDEX = 1
MAX_CATEGORIES = 1000
_TOKEN = re.compile(r"[a-z0-9]+(?:['_.-][a-z0-9]+)*")


def _as_float32(
    features: np.ndarray[Any, Any], names: list[str]
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The features as contiguous float32; a value past float32's range (about 3.4e38 once
    scaled) is bad input, not an infinity to feed the network."""
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = np.ascontiguousarray(features, dtype=np.float32)
    overflow = np.isinf(narrow) & ~np.isinf(features)
    if overflow.any():
        row, column = (int(i) for i in np.argwhere(overflow)[0])
        raise PreprocessingError(
            f"instance {row}: {names[column]!r} is out of range after scaling (beyond "
            "float32's ±3.4e38): send finite numbers of the training data's magnitude"
        )
    return narrow


class PreprocessingError(ValueError):
    """Input data does not fit the preprocessing: a missing column or a value of the wrong type."""


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens: letters and digits, keeping inner ``'``, ``_``, ``.`` and ``-``."""
    return _TOKEN.findall(text.lower())


def records_to_columns(records: Records, names: Sequence[str]) -> dict[str, list[Any]]:
    """Pick ``names`` out of each record; a record without one of them is an error."""
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise PreprocessingError(
                f"record {row} is a {type(record).__name__}, expected an object of column → value"
            )
        for name in names:
            if name not in record:
                raise PreprocessingError(
                    f"record {row} has no column {name!r}; expected columns: {', '.join(names)}"
                )
            columns[name].append(record[name])
    return columns


def _column(columns: Columns, name: str) -> Sequence[Any] | np.ndarray[Any, Any]:
    try:
        return columns[name]
    except KeyError:
        known = ", ".join(sorted(columns)) or "none"
        raise PreprocessingError(f"missing column {name!r} (columns present: {known})") from None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def numeric_values(name: str, values: Sequence[Any] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``values`` as float64 with NaN for missing; text or other non-numbers are an error."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.empty(len(values), dtype=np.float64)
    for row, value in enumerate(values):
        if _is_missing(value):
            out[row] = math.nan
        elif isinstance(value, bool | int | float | np.number):
            out[row] = float(value)
        else:
            raise PreprocessingError(
                f"column {name!r} is numeric but row {row} holds {type(value).__name__} "
                f"{str(value)[:40]!r}: send a number (or null), or train with {name!r} "
                "listed in dataset.categoricalColumns"
            )
    return out


def category_values(values: Sequence[Any] | np.ndarray[Any, Any]) -> list[str | None]:
    """Categories as strings (``None`` for missing); ``1`` and ``"1"`` are the same category."""
    out: list[str | None] = []
    for value in values:
        if _is_missing(value):
            out.append(None)
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))
        else:
            out.append(str(value))
    return out


def text_values(name: str, values: Sequence[Any] | np.ndarray[Any, Any]) -> list[str]:
    out: list[str] = []
    for row, value in enumerate(values):
        if value is None:
            out.append("")
        elif isinstance(value, str):
            out.append(value)
        else:
            raise PreprocessingError(
                f"text column {name!r} row {row} holds {type(value).__name__}, expected a string"
            )
    return out


class NumericColumn(WireModel):
    """A standardised numeric input column."""

    name: str = Field(description="Raw input column.")
    mean: float = Field(description="Training mean; also the value a missing input gets.")
    std: float = Field(gt=0, description="Training standard deviation (1 for a constant column).")


class CategoricalColumn(WireModel):
    """A one-hot encoded input column."""

    name: str = Field(description="Raw input column.")
    categories: list[str] = Field(description="Categories seen in training, one output each.")


class TabularPreprocessor(WireModel):
    """Standardisation of numeric columns and one-hot encoding of categorical ones."""

    kind: Literal["tabular"] = "tabular"
    feature_columns: list[str] = Field(description="Raw input columns, in order.")
    numeric: list[NumericColumn] = Field(default_factory=list)
    categorical: list[CategoricalColumn] = Field(default_factory=list)

    _index: dict[str, dict[str, int]] = PrivateAttr(default_factory=dict)
    _layout: _RecordLayout | None = PrivateAttr(default=None)

    @property
    def num_features(self) -> int:
        return len(self.numeric) + sum(len(c.categories) for c in self.categorical)

    @property
    def input_columns(self) -> list[str]:
        return list(self.feature_columns)

    def output_names(self) -> list[str]:
        """The name of every output feature: ``col`` or ``col=category``."""
        names: dict[str, list[str]] = {c.name: [c.name] for c in self.numeric}
        for cat in self.categorical:
            names[cat.name] = [f"{cat.name}={value}" for value in cat.categories]
        return [n for column in self.feature_columns for n in names[column]]

    def _category_index(self, column: CategoricalColumn) -> dict[str, int]:
        if column.name not in self._index:
            self._index[column.name] = {v: i for i, v in enumerate(column.categories)}
        return self._index[column.name]

    def transform_columns(self, columns: Columns) -> np.ndarray[Any, np.dtype[np.float32]]:
        """One float32 row per example, ``num_features`` wide."""
        numeric = {c.name: c for c in self.numeric}
        categorical = {c.name: c for c in self.categorical}
        length = len(_column(columns, self.feature_columns[0])) if self.feature_columns else 0
        blocks: list[np.ndarray[Any, Any]] = []
        for name in self.feature_columns:
            values = _column(columns, name)
            if len(values) != length:
                raise PreprocessingError(f"column {name!r} has {len(values)} rows, not {length}")
            if name in numeric:
                spec = numeric[name]
                data = numeric_values(name, values)
                scaled = np.where(np.isnan(data), 0.0, (data - spec.mean) / spec.std)
                blocks.append(scaled.reshape(-1, 1))
            else:
                cat = categorical[name]
                index = self._category_index(cat)
                onehot = np.zeros((length, len(cat.categories)), dtype=np.float64)
                for row, value in enumerate(category_values(values)):
                    position = index.get(value) if value is not None else None
                    if position is not None:
                        onehot[row, position] = 1.0
                blocks.append(onehot)
        if not blocks:
            return np.zeros((length, 0), dtype=np.float32)
        return _as_float32(np.concatenate(blocks, axis=1), self.output_names())

    def transform(self, records: Records) -> np.ndarray[Any, np.dtype[np.float32]]:
        """``transform_columns`` of records, the same numbers, built straight into one matrix
        (the server's path: no per-column arrays). Anything unusual takes the column path,
        whose errors say what is wrong."""
        layout = self._record_layout()
        rows = len(records)
        try:
            values = [record[name] for record in records for name in layout.numeric_names]
        except (KeyError, TypeError):
            values = []
            rows = -1
        if rows < 0 or not all(type(v) in _PLAIN_NUMBERS for v in values):
            return self.transform_columns(records_to_columns(records, self.feature_columns))
        out = np.zeros((rows, self.num_features), dtype=np.float64)
        data = np.array(values, dtype=np.float64).reshape(rows, len(layout.numeric_names))
        scaled = (data - layout.means) / layout.stds
        scaled[np.isnan(data)] = 0.0
        out[:, layout.numeric_offsets] = scaled
        for name, offset, index in layout.categorical:
            for row, record in enumerate(records):
                if name not in record:
                    return self.transform_columns(records_to_columns(records, self.feature_columns))
                value = record[name]
                if _is_missing(value):
                    continue
                key = str(int(value)) if isinstance(value, float) and value.is_integer() else None
                position = index.get(key if key is not None else str(value))
                if position is not None:
                    out[row, offset + position] = 1.0
        return _as_float32(out, self.output_names())

    def _record_layout(self) -> _RecordLayout:
        if self._layout is None:
            numeric = {c.name: c for c in self.numeric}
            categorical = {c.name: c for c in self.categorical}
            names, offsets, cats = [], [], []
            offset = 0
            for name in self.feature_columns:
                if name in numeric:
                    names.append(name)
                    offsets.append(offset)
                    offset += 1
                else:
                    column = categorical[name]
                    cats.append((name, offset, self._category_index(column)))
                    offset += len(column.categories)
            self._layout = _RecordLayout(
                numeric_names=names,
                numeric_offsets=np.array(offsets, dtype=np.intp),
                means=np.array([numeric[n].mean for n in names], dtype=np.float64),
                stds=np.array([numeric[n].std for n in names], dtype=np.float64),
                categorical=cats,
            )
        return self._layout

    def to_json(self) -> bytes:
        """The bytes of ``preprocessing.json``."""
        return self.model_dump_json(by_alias=True, indent=1).encode() + b"\n"


_PLAIN_NUMBERS = frozenset({float, int, bool, type(None)})


@dataclass(frozen=True)
class _RecordLayout:
    """Where each raw column of a record lands in the output row (cached per preprocessor)."""

    numeric_names: list[str]
    numeric_offsets: np.ndarray[Any, Any]
    means: np.ndarray[Any, Any]
    stds: np.ndarray[Any, Any]
    categorical: list[tuple[str, int, dict[str, int]]]


class TextPreprocessor(WireModel):
    """A lowercase word tokenizer, a vocabulary and a fixed sequence length."""

    kind: Literal["text"] = "text"
    text_column: str = Field(description="Raw input column holding the text.")
    max_length: int = Field(ge=1, description="Tokens kept per text; shorter texts are padded.")
    vocabulary: list[str] = Field(description="Token of each index; 0 = <pad>, 1 = <unk>.")

    _lookup: dict[str, int] | None = PrivateAttr(default=None)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def input_columns(self) -> list[str]:
        return [self.text_column]

    def lookup(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {token: i for i, token in enumerate(self.vocabulary)}
        return self._lookup

    def encode_text(self, text: str) -> list[int]:
        """Token ids of one text, cut to ``max_length`` (not padded)."""
        lookup = self.lookup()
        return [lookup.get(t, UNK_INDEX) for t in tokenize(text)[: self.max_length]]

    def transform_columns(self, columns: Columns) -> np.ndarray[Any, np.dtype[np.int64]]:
        texts = text_values(self.text_column, _column(columns, self.text_column))
        out = np.full((len(texts), self.max_length), PAD_INDEX, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self.encode_text(text)
            out[row, : len(ids)] = ids
        return out

    def transform(self, records: Records) -> np.ndarray[Any, np.dtype[np.int64]]:
        return self.transform_columns(records_to_columns(records, [self.text_column]))

    def to_json(self) -> bytes:
        """The bytes of ``preprocessing.json``."""
        return self.model_dump_json(by_alias=True, indent=1).encode() + b"\n"


Preprocessor = Annotated[TabularPreprocessor | TextPreprocessor, Field(discriminator="kind")]
_PREPROCESSOR: TypeAdapter[TabularPreprocessor | TextPreprocessor] = TypeAdapter(Preprocessor)


def fit_tabular(
    columns: Columns,
    *,
    feature_columns: Sequence[str],
    categorical_columns: Sequence[str] = (),
) -> TabularPreprocessor:
    """Fit on the training split. A column holding text is categorical even if not listed."""
    if not feature_columns:
        raise PreprocessingError("no feature columns: set dataset.featureColumns")
    unknown = sorted(set(categorical_columns) - set(feature_columns))
    if unknown:
        raise PreprocessingError(
            f"categorical columns {unknown} are not feature columns ({', '.join(feature_columns)})"
        )
    numeric: list[NumericColumn] = []
    categorical: list[CategoricalColumn] = []
    for name in feature_columns:
        values = _column(columns, name)
        if name not in categorical_columns and _looks_numeric(values):
            data = numeric_values(name, values)
            present = data[~np.isnan(data)]
            if present.size == 0:
                raise PreprocessingError(f"numeric column {name!r} has no values in training")
            std = float(present.std())
            numeric.append(
                NumericColumn(
                    name=name, mean=float(present.mean()), std=std if std > 1e-12 else 1.0
                )
            )
        else:
            counts = Counter(v for v in category_values(values) if v is not None)
            if not counts:
                raise PreprocessingError(f"categorical column {name!r} has no values in training")
            kept = sorted(v for v, _ in counts.most_common(MAX_CATEGORIES))
            categorical.append(CategoricalColumn(name=name, categories=kept))
    return TabularPreprocessor(
        feature_columns=list(feature_columns), numeric=numeric, categorical=categorical
    )


def _looks_numeric(values: Sequence[Any] | np.ndarray[Any, Any]) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "fiub"
    return all(_is_missing(v) or isinstance(v, bool | int | float | np.number) for v in values)


def fit_text(
    columns: Columns, *, text_column: str, max_vocab_size: int, max_length: int
) -> TextPreprocessor:
    """Vocabulary of the most frequent training tokens (ties alphabetical), capped in size."""
    texts = text_values(text_column, _column(columns, text_column))
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize(text))
    if not counts:
        raise PreprocessingError(f"text column {text_column!r} holds no words in training")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [word for word, _ in ranked[: max(0, max_vocab_size - 2)]]
    return TextPreprocessor(
        text_column=text_column, max_length=max_length, vocabulary=[PAD_TOKEN, UNK_TOKEN, *words]
    )


def from_json(data: bytes | str) -> TabularPreprocessor | TextPreprocessor:
    """Rebuild a preprocessor from the bytes of ``preprocessing.json``."""
    try:
        return _PREPROCESSOR.validate_json(data)
    except ValidationError as exc:
        raise PreprocessingError(f"preprocessing.json is not valid: {exc}") from exc
