"""The replaced service's request bodies, turned into this API's own request bodies. Pure.

The one place where the service's vocabulary meets this API's: each request type calls its
function here before it validates (``model_validator(mode="before")``), so a body in the
service's documented shape and a body in this API's shape become the same typed request,
and any key neither knows is still refused by that type with its name.

- ``POST /mlops/train``: ``datasetConfig``/``modelConfig``/``trainingConfig`` nested in
  ``config`` move beside it; ``optimizer: {"type": …}`` is ``optimizer.name``; Keras loss and
  metric names become the zoo's (``categorical_crossentropy`` → ``cross_entropy``); a text
  model without ``textColumn`` reads ``description``, the text field of the service's
  predictions. ``config.modelType`` is the model's identity (see ``train_request``).
- ``POST /mlops/models/compare``: ``version1``/``version2`` → ``versions``.
- ``POST /mlops/experiments``: ``config{name, modelId, objective, metric, searchSpace{name:
  {type, low, high, choices}}, searchStrategy, maxTrials, parallelTrials}`` → the Experiment's
  spec; the service's parameter names (``learning_rate``, ``dropout``, ``lstm_units``, …) are
  the trial template's fields they set (``PARAMETER_PATHS``).
- ``POST /mlops/deploy``: ``version`` with ``stage`` serves that version as the stage's
  Deployment (``deployment_name_for``) instead of following the stage.
- ``POST /mlops/models/{id}/drift/init``: ``referenceData`` (records, or columns of values) →
  ``records``.
"""

from __future__ import annotations

import json
from typing import Any, Final

JSON = dict[str, Any]

#: the service's ``modelType``/``architecture`` words → the model zoo's architectures
ARCHITECTURE_ALIASES: Final[dict[str, str]] = {
    "cnn": "cnn_text",
    "textcnn": "cnn_text",
    "text_cnn": "cnn_text",
    "cnn_text": "cnn_text",
    "lstm": "lstm",
    "rnn": "lstm",
    "mlp": "mlp",
    "dnn": "mlp",
    "neural_network": "mlp",
    "logistic": "logistic_regression",
    "logreg": "logistic_regression",
    "logistic_regression": "logistic_regression",
}
TEXT_ARCHITECTURES: Final = frozenset({"lstm", "cnn_text"})
#: the column a text model reads when the body names none: the service's text field
SERVICE_TEXT_COLUMN: Final = "description"
LOSS_ALIASES: Final[dict[str, str]] = {
    "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
    "crossentropy": "cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
}
METRIC_ALIASES: Final[dict[str, str]] = {"f1_score": "f1", "auc": "roc_auc"}
TRAIN_BLOCKS: Final = ("datasetConfig", "modelConfig", "trainingConfig")

#: the service's search parameter names → the trial template's fields (camelCase dot paths)
PARAMETER_PATHS: Final[dict[str, str]] = {
    "learning_rate": "model.optimizer.learningRate",
    "weight_decay": "model.optimizer.weightDecay",
    "momentum": "model.optimizer.momentum",
    "optimizer": "model.optimizer.name",
    "dropout": "model.dropout",
    "lstm_units": "model.hiddenDim",
    "hidden_dim": "model.hiddenDim",
    "num_filters": "model.hiddenDim",
    "hidden_sizes": "model.hiddenSizes",
    "embedding_dim": "model.embeddingDim",
    "max_sequence_length": "model.maxSequenceLength",
    "max_vocab_size": "model.maxVocabSize",
    "batch_size": "training.batchSize",
    "epochs": "training.epochs",
    "patience": "training.earlyStopping.patience",
}
#: the service's parameter types → (type, log)
PARAMETER_TYPES: Final[dict[str, tuple[str, bool]]] = {
    "float": ("float", False),
    "uniform": ("float", False),
    "discrete_uniform": ("float", False),
    "log_uniform": ("float", True),
    "loguniform": ("float", True),
    "int": ("int", False),
    "integer": ("int", False),
    "int_uniform": ("int", False),
    "log_int": ("int", True),
    "int_log_uniform": ("int", True),
    "categorical": ("categorical", False),
    "choice": ("categorical", False),
}
STRATEGY_ALIASES: Final[dict[str, str]] = {
    "tpe": "bayesian",
    "cma-es": "cmaes",
    "cma_es": "cmaes",
    "sobol": "quasi-random",
    "quasi_random": "quasi-random",
}
PRODUCTION: Final = "production"


def _dict(value: Any) -> JSON | None:
    return dict(value) if isinstance(value, dict) else None


# --- POST /mlops/train ---------------------------------------------------------------------


def _optimizer(value: Any) -> Any:
    found = _dict(value)
    if found is None or "type" not in found or "name" in found:
        return value
    found["name"] = found.pop("type")
    return found


def _model_config(value: Any) -> Any:
    model = _dict(value)
    if model is None:
        return value
    if "optimizer" in model:
        model["optimizer"] = _optimizer(model["optimizer"])
    loss = model.get("loss")
    if isinstance(loss, str):
        model["loss"] = LOSS_ALIASES.get(loss.lower(), loss)
    metrics = model.get("metrics")
    if isinstance(metrics, list):
        model["metrics"] = [
            METRIC_ALIASES.get(m.lower(), m) if isinstance(m, str) else m for m in metrics
        ]
    return model


def architecture_named(word: str) -> str | None:
    """The zoo's architecture a service word names (``cnn`` → ``cnn_text``), if any."""
    return ARCHITECTURE_ALIASES.get(word.strip().lower().replace("-", "_"))


def _text_model(config: JSON, model: JSON) -> bool:
    given = model.get("architecture")
    word = given if isinstance(given, str) else config.get("modelType")
    return isinstance(word, str) and architecture_named(word) in TEXT_ARCHITECTURES


def train_body(body: Any) -> Any:
    """A train body with the service's nesting lifted to this API's shape."""
    out = _dict(body)
    config = _dict(out.get("config")) if out else None
    if out is None or config is None:
        return body
    nested = [key for key in TRAIN_BLOCKS if key in config]
    for key in nested:
        if key in out:
            # both spellings: leave it nested so the type names config.<key> as unknown
            continue
        out[key] = config.pop(key)
    out["config"] = config
    if "modelConfig" in out:
        out["modelConfig"] = _model_config(out["modelConfig"])
    dataset = _dict(out.get("datasetConfig"))
    model = _dict(out.get("modelConfig")) or {}
    needs_text = dataset is not None and "textColumn" not in dataset
    if nested and dataset is not None and needs_text and _text_model(config, model):
        dataset["textColumn"] = SERVICE_TEXT_COLUMN
        out["datasetConfig"] = dataset
    return out


# --- POST /mlops/models/compare -------------------------------------------------------------


def compare_body(body: Any) -> Any:
    """``{"modelId", "version1", "version2"}`` → ``{"modelId", "versions": [v1, v2]}``."""
    out = _dict(body)
    if out is None or "versions" in out or not ("version1" in out or "version2" in out):
        return body
    out["versions"] = [out.pop("version1", None), out.pop("version2", None)]
    return out


# --- POST /mlops/experiments ----------------------------------------------------------------


def _category(value: Any) -> Any:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _parameter(name: str, given: Any) -> Any:
    found = _dict(given)
    if found is None:
        return given
    parameter: JSON = {"name": PARAMETER_PATHS.get(name, name)}
    kind = found.pop("type", None)
    if isinstance(kind, str) and kind.lower() in PARAMETER_TYPES:
        parameter["type"], log = PARAMETER_TYPES[kind.lower()]
        if log:
            parameter["log"] = True
    elif kind is not None:
        parameter["type"] = kind
    for key, to in (("min", "low"), ("max", "high"), ("q", "step"), ("choices", "values")):
        if key in found and to not in found:
            found[to] = found.pop(key)
    if isinstance(found.get("values"), list):
        found["values"] = [_category(v) for v in found["values"]]
    parameter.update(found)
    return parameter


def search_space(value: Any) -> Any:
    """The service's ``{name: {type, low, high | choices}}`` → a list of search parameters."""
    found = _dict(value)
    if found is None:
        return value
    return [_parameter(name, given) for name, given in found.items()]


def experiment_body(body: Any) -> Any:
    """The service's ``{"config": {...}}`` → the Experiment's spec plus ``experimentId``."""
    out = _dict(body)
    if out is None:
        return body
    config = _dict(out.pop("config", None))
    if config is not None:
        for key, to in (
            ("name", "experimentId"),
            ("modelId", "modelName"),
            ("modelType", "modelName"),
            ("searchStrategy", "strategy"),
        ):
            if key in config and to not in config:
                config[to] = config.pop(key)
        direction, metric = config.get("objective"), config.pop("metric", None)
        if isinstance(direction, str):
            config["objective"] = {"metric": metric, "direction": direction.lower()}
        elif metric is not None:
            config["metric"] = metric
        out = {**config, **out}
    if "searchSpace" in out:
        out["searchSpace"] = search_space(out["searchSpace"])
    strategy = out.get("strategy")
    if isinstance(strategy, str):
        out["strategy"] = STRATEGY_ALIASES.get(strategy.lower(), strategy.lower())
    return out


# --- POST /mlops/deploy ---------------------------------------------------------------------


def deployment_name_for(model: str, stage: str | None) -> str:
    """The Deployment that is a model's ``stage`` deployment: the model's name for
    production (and when no stage is said), ``<model>-<stage>`` for another stage."""
    if stage is None or stage.lower() == PRODUCTION:
        return model
    return f"{model}-{stage.lower()}"


def deploy_body(body: Any) -> Any:
    """``version`` (or ``modelId: name:version``) together with ``stage``: serve that version
    as the stage's Deployment, i.e. pinned, and named by ``deployment_name_for``."""
    out = _dict(body)
    if out is None or out.get("stage") is None:
        return body
    model_id = out.get("modelId")
    if not isinstance(model_id, str):
        return body
    model, _, version = model_id.partition(":")
    if out.get("version") is None and not version:
        return body
    stage = out.pop("stage")
    if out.get("name") is None and isinstance(stage, str):
        out["name"] = deployment_name_for(model, stage)
    return out


# --- POST /mlops/models/{id}/drift/init -----------------------------------------------------


def _records(data: Any) -> Any:
    columns = _dict(data)
    if columns is None or not all(isinstance(v, list) for v in columns.values()):
        return data
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        return data
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def drift_init_body(body: Any) -> Any:
    """``referenceData`` (a list of records, or ``{column: [values]}``) → ``records``."""
    out = _dict(body)
    if out is None or "referenceData" not in out or "records" in out:
        return body
    out["records"] = _records(out.pop("referenceData"))
    return out
