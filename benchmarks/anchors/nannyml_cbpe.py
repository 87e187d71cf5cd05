"""NannyML's CBPE on the arrays of an ``.npz`` file (run in the anchor's venv).

Reads ``reference`` (probabilities, rows × classes) with ``reference_true`` (class indices) and
``analysis`` (probabilities) from the file named by its first argument, and the chunk size from
the second. Fits ``nannyml.CBPE`` on the reference (its default isotonic calibration), estimates
the analysis chunks, and times ``estimate`` on the whole analysis frame ``repeats`` times (the
third argument). Prints one JSON line: ``{"accuracy": [...], "f1": [...], "seconds": [...]}``
(``f1``: macro F1, multi-class only).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings

import nannyml as nml
import numpy as np
import pandas as pd


def frame(proba: np.ndarray, true: np.ndarray | None) -> pd.DataFrame:
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)
    if k == 2:
        data = {"proba": proba[:, 1], "pred": predicted}
    else:
        data = {f"p{c}": proba[:, c] for c in range(k)}
        data["pred"] = [f"c{c}" for c in predicted]
    if true is not None:
        data["true"] = true if k == 2 else [f"c{c}" for c in true]
    return pd.DataFrame(data)


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    data = np.load(sys.argv[1])
    chunk, repeats = int(sys.argv[2]), int(sys.argv[3])
    reference, analysis = data["reference"], data["analysis"]
    k = reference.shape[1]
    binary = k == 2
    metrics = ["accuracy"] if binary else ["accuracy", "f1"]
    estimator = nml.CBPE(
        y_pred_proba="proba" if binary else {f"c{c}": f"p{c}" for c in range(k)},
        y_pred="pred",
        y_true="true",
        problem_type="classification_binary" if binary else "classification_multiclass",
        metrics=metrics,
        chunk_size=chunk,
    )
    estimator.fit(frame(reference, data["reference_true"]))
    analysis_frame = frame(analysis, None)
    seconds = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = estimator.estimate(analysis_frame)
        seconds.append(time.perf_counter() - started)
    assert result is not None
    table = result.filter(period="analysis").to_df()
    out: dict[str, object] = {"seconds": seconds}
    for metric in metrics:
        out[metric] = [float(v) for v in table[(metric, "value")]]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
