"""The example threat classifier, trained as the demo trains it (the TrainingJob of
``examples/threat-classifier/``, and its shorter next version), answers the sentences the demo
prints correctly, and clearly: a reader sees the class they expect, well ahead of the
runner-up. Runs the trainer as a process on this machine (no cluster): about 30 s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_core.artifact_io import load_artifact
from mlops_core.storage import LocalStore
from mlops_devcluster.demo import NEXT_EPOCHS
from mlops_devcluster.demo_serving import EXAMPLES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data" / "threat-classifier"
#: the top class's lead over the runner-up that reads as a confident answer
MARGIN = 0.3


def trainer_config(out: Path, *, epochs: int | None) -> dict[str, Any]:
    """The example TrainingJob's model and training, on the example data on this disk."""
    job = yaml.safe_load((REPO / "examples" / "threat-classifier" / "trainingjob.yaml").read_text())
    spec = job["spec"]
    training = {k: v for k, v in spec["training"].items() if k != "checkpointInterval"}
    if epochs is not None:
        training["epochs"] = epochs
    dataset = {
        **{k: v for k, v in spec["dataset"].items() if k not in ("train", "validation", "test")},
        **{split: str(DATA / f"{split}.csv") for split in ("train", "validation", "test")},
    }
    return {
        "dataset": dataset,
        "model": spec["model"],
        "training": training,
        "output": {"modelName": spec["modelName"], "version": "0.1.0", "artifactUri": str(out)},
    }


@pytest.mark.parametrize("epochs", [None, NEXT_EPOCHS], ids=["first", "next"])
def test_the_trained_example_answers_the_demo_sentences(tmp_path: Path, epochs: int | None) -> None:
    out = tmp_path / "artifact"
    config = tmp_path / "trainer.yaml"
    config.write_text(yaml.safe_dump(trainer_config(out, epochs=epochs)))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))},
        "OMP_NUM_THREADS": "1",
        "MLOPS_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "mlops_trainer", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    model = load_artifact(LocalStore(out))
    texts = list(EXAMPLES)
    column = str(model.config.text_column)
    probabilities = model.predict_proba([{column: text} for text in texts])
    for text, row in zip(texts, probabilities, strict=True):
        ranked = sorted(zip(model.class_labels, row.tolist(), strict=True), key=lambda x: -x[1])
        (top, p_top), (_, p_second) = ranked[0], ranked[1]
        assert top == EXAMPLES[text], f"{text!r}: {ranked}"
        assert p_top - p_second >= MARGIN, f"{text!r}: {ranked}"
