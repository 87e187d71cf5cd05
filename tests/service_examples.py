"""The replaced service's documented request bodies, one per endpoint, as its clients send
them. Paths and names are parameters so a test can point them at its own data."""

from __future__ import annotations

from typing import Any

THREAT_DATA = "s3://mlops/datasets/threat"


def train(
    *, model: str = "threat-classifier", data: str = THREAT_DATA, epochs: int = 50
) -> dict[str, Any]:
    return {
        "config": {
            "modelType": model,
            "datasetConfig": {
                "trainPath": f"{data}/train.csv",
                "validationPath": f"{data}/validation.csv",
                "testPath": f"{data}/test.csv",
            },
            "modelConfig": {
                "architecture": "lstm",
                "optimizer": {"type": "adam", "learningRate": 0.001},
                "loss": "categorical_crossentropy",
                "metrics": ["accuracy", "precision", "recall"],
            },
            "trainingConfig": {
                "epochs": epochs,
                "batchSize": 32,
                "earlyStopping": {
                    "enabled": True,
                    "patience": 10,
                    "monitor": "val_loss",
                    "mode": "min",
                },
            },
        },
        "experimentName": "threat-classifier-v2",
    }


def compare(*, model: str = "threat-classifier", left: str = "1.0.0", right: str = "1.1.0") -> Any:
    return {"modelId": model, "version1": left, "version2": right}


def experiment(
    *, name: str = "threat-classifier-tuning", max_trials: int = 100, parallel: int = 4
) -> dict[str, Any]:
    return {
        "config": {
            "name": name,
            "objective": "maximize",
            "metric": "val_accuracy",
            "searchSpace": {
                "learning_rate": {"type": "log_uniform", "low": 0.0001, "high": 0.1},
                "dropout": {"type": "float", "low": 0.1, "high": 0.5},
                "lstm_units": {"type": "categorical", "choices": [64, 128, 256]},
            },
            "searchStrategy": "bayesian",
            "maxTrials": max_trials,
            "parallelTrials": parallel,
        }
    }


def deploy(*, model: str = "threat-classifier", version: str = "1.1.0") -> dict[str, Any]:
    return {"modelId": model, "version": version, "stage": "production"}


def predict(*, model: str = "threat-classifier") -> dict[str, Any]:
    return {
        "modelId": model,
        "input": {
            "description": "SQL injection attempt detected",
            "context": {"source_ip": "10.0.0.7", "endpoint": "/login"},
        },
    }


def predict_batch(*, model: str = "threat-classifier") -> dict[str, Any]:
    return {"requests": [predict(model=model), predict(model=model)]}


def drift_init(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"referenceData": records}


def compare_experiments(*names: str) -> dict[str, Any]:
    return {"experimentIds": list(names)}
