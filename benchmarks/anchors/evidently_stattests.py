"""Evidently's stat tests timed on the arrays of an ``.npz`` file (run in the anchor's venv).

Reads ``train`` and ``window`` (features × rows) from the file named by its argument, then
for each line ``round`` on stdin times every method on all features once and prints one JSON
line: ``{"psi": seconds, "kl": seconds, "wasserstein": seconds, "scores": {...}}``. Each call
is what Evidently runs per column in a data drift report: the stat test on the reference and
the current column as pandas Series.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import (
    kl_div_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
)
from evidently.legacy.core import ColumnType

TESTS = {"psi": psi_stat_test, "kl": kl_div_stat_test, "wasserstein": wasserstein_stat_test}


def main() -> None:
    data = np.load(sys.argv[1])
    train = [pd.Series(column) for column in data["train"]]
    window = [pd.Series(column) for column in data["window"]]
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        result: dict[str, object] = {}
        scores: dict[str, list[float]] = {}
        for method, test in TESTS.items():
            started = time.perf_counter()
            outcomes = [
                test(ref, cur, ColumnType.Numerical, None)
                for ref, cur in zip(train, window, strict=True)
            ]
            result[method] = time.perf_counter() - started
            scores[method] = [float(o.drift_score) for o in outcomes]
        result["scores"] = scores
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
