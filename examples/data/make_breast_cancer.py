"""Write the tabular example dataset from scikit-learn's bundled breast-cancer data (no download).

569 tumours, 30 numeric measurements, column ``diagnosis``: ``malignant`` or ``benign``; a
seeded, stratified 70/15/15 split into train, validation and test CSV files. scikit-learn (the
``dev`` extra) is needed only to run this script, not to train on its output.

    python examples/data/make_breast_cancer.py   # rewrites examples/data/breast-cancer/
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

SEED = 7
FRACTIONS = {"train": 0.70, "validation": 0.15}
OUT = Path(__file__).resolve().parent / "breast-cancer"


def main() -> None:
    bunch = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in bunch.feature_names]
    labels = np.asarray(bunch.target_names)[bunch.target]
    rng = np.random.default_rng(SEED)
    assigned: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_train = round(len(rows) * FRACTIONS["train"])
        n_val = round(len(rows) * FRACTIONS["validation"])
        assigned["train"] += rows[:n_train].tolist()
        assigned["validation"] += rows[n_train : n_train + n_val].tolist()
        assigned["test"] += rows[n_train + n_val :].tolist()
    OUT.mkdir(parents=True, exist_ok=True)
    for split, rows in assigned.items():
        with (OUT / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*columns, "diagnosis"])
            for row in sorted(rows):
                writer.writerow([f"{v:.6g}" for v in bunch.data[row]] + [labels[row]])
        print(f"wrote {OUT / f'{split}.csv'} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
