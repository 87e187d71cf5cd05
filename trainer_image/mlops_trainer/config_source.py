"""Where the trainer's config comes from: a file (JSON or YAML), an inline string or the env.

The config is a ``TrainerConfig`` (``mlops_core.training_spec``): the TrainingJob's dataset,
model and training parts plus the output the operator fills in, so a spec passes through
unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_core.trainer_environment import ENV_CONFIG
from mlops_core.training_spec import TrainerConfig
from mlops_trainer.errors import TrainerError


def parse_config_text(text: str, *, origin: str) -> TrainerConfig:
    """Parse JSON or YAML text (JSON is YAML, but JSON errors read better) and validate it."""
    data: Any
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TrainerError(f"{origin} is neither JSON nor YAML: {_one_line(str(exc))}") from exc
    if not isinstance(data, dict):
        raise TrainerError(f"{origin} must hold an object with dataset, model, training, output")
    try:
        return TrainerConfig.model_validate(data)
    except ValidationError as exc:
        raise TrainerError(f"invalid config in {origin}: {describe_validation_error(exc)}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """Every problem as ``path: message`` on one line."""
    problems = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "(root)"
        problems.append(f"{path}: {error['msg']}")
    return "; ".join(problems)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_config(
    *, path: str | None, inline: str | None, env: dict[str, str] | None = None
) -> TrainerConfig:
    """From ``--config FILE`` (``-`` is not supported), ``--config-json TEXT`` or the env."""
    environ = os.environ if env is None else env
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise TrainerError(f"cannot read config file {path}: {exc.strerror}") from exc
        return parse_config_text(text, origin=path)
    if inline:
        return parse_config_text(inline, origin="--config-json")
    if environ.get(ENV_CONFIG):
        return parse_config_text(environ[ENV_CONFIG], origin=f"${ENV_CONFIG}")
    raise TrainerError(f"no config: pass --config FILE, --config-json TEXT or set ${ENV_CONFIG}")
