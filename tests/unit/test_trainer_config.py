"""The trainer's config: JSON or YAML, from a file, inline or the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_core.trainer_environment import ENV_CONFIG
from mlops_trainer.config_source import load_config
from mlops_trainer.errors import TrainerError

pytestmark = pytest.mark.unit

CONFIG = {
    "dataset": {"train": "s3://mlops/datasets/t/train.csv", "textColumn": "description"},
    "model": {"architecture": "lstm", "optimizer": {"name": "adamw", "learningRate": 0.01}},
    "training": {"epochs": 3, "earlyStopping": {"monitor": "val_f1", "mode": "max"}},
    "output": {"modelName": "threat", "version": "1.2.0", "artifactUri": "s3://mlops/models/t"},
}

YAML = """
dataset: {train: s3://mlops/datasets/t/train.csv, textColumn: description}
model:
  architecture: lstm
  optimizer: {name: adamw, learningRate: 0.01}
training: {epochs: 3, earlyStopping: {monitor: val_f1, mode: max}}
output: {modelName: threat, version: 1.2.0, artifactUri: "s3://mlops/models/t"}
"""


def test_json_file_yaml_file_inline_and_env_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps(CONFIG))
    (tmp_path / "c.yaml").write_text(YAML)
    from_json = load_config(path=str(tmp_path / "c.json"), inline=None, env={})
    assert from_json == load_config(path=str(tmp_path / "c.yaml"), inline=None, env={})
    assert from_json == load_config(path=None, inline=json.dumps(CONFIG), env={})
    assert from_json == load_config(path=None, inline=None, env={ENV_CONFIG: YAML})
    assert from_json.model.optimizer.learning_rate == 0.01
    assert from_json.training.early_stopping.mode == "max"


def test_no_config_says_where_to_give_one() -> None:
    with pytest.raises(TrainerError, match=r"pass --config FILE.*MLOPS_TRAINER_CONFIG"):
        load_config(path=None, inline=None, env={})


def test_unknown_architecture_is_one_line_naming_the_field() -> None:
    bad = {**CONFIG, "model": {"architecture": "transformer"}}
    with pytest.raises(TrainerError) as caught:
        load_config(path=None, inline=json.dumps(bad), env={})
    message = str(caught.value)
    assert "\n" not in message
    assert "model.architecture" in message
    assert "'logistic_regression'" in message


def test_typo_in_a_field_name_is_rejected(tmp_path: Path) -> None:
    bad = {**CONFIG, "training": {"epoch": 3}}
    with pytest.raises(TrainerError, match=r"training.epoch: Extra inputs are not permitted"):
        load_config(path=None, inline=json.dumps(bad), env={})


def test_unreadable_file_and_garbage_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match=r"cannot read config file"):
        load_config(path=str(tmp_path / "missing.yaml"), inline=None, env={})
    with pytest.raises(TrainerError, match=r"must hold an object"):
        load_config(path=None, inline="just words", env={})
