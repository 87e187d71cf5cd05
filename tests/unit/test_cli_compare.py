import pytest

from mlops_operator.api.model_version import ModelVersion
from mlops_operator.cli import build_parser
from mlops_operator.commands.compare import render_comparison
from mlops_operator.commands.output import table
from mlops_operator.operations.compare import compare_versions

pytestmark = pytest.mark.unit


def _mv(version: str, metrics: dict[str, float], hyper: dict[str, str]) -> ModelVersion:
    return ModelVersion.from_body(
        {
            "metadata": {"name": f"m-{version}", "namespace": "ns"},
            "spec": {
                "model": "m",
                "version": version,
                "artifact": {"uri": "s3://b/x/", "digest": "sha256:" + "0" * 64},
                "metrics": metrics,
                "hyperparameters": hyper,
            },
        }
    )


def test_compare_shows_deltas_and_only_changed_hyperparameters() -> None:
    left = _mv("1.0.0", {"val_f1": 0.8, "val_loss": 0.5}, {"lr": "0.01", "epochs": "5"})
    right = _mv("1.1.0", {"val_f1": 0.85, "test_f1": 0.84}, {"lr": "0.003", "epochs": "5"})
    comparison = compare_versions(left, right)
    rows = {r.name: (r.left, r.right) for r in comparison.metrics}
    assert rows == {"test_f1": (None, 0.84), "val_f1": (0.8, 0.85), "val_loss": (0.5, None)}
    assert [(r.name, r.left, r.right) for r in comparison.changed] == [("lr", "0.01", "0.003")]
    assert comparison.unchanged == 1
    text = render_comparison(comparison)
    assert "+0.05" in text
    assert "1 hyperparameter(s) identical" in text
    lines = text.splitlines()
    assert lines[0].split() == ["METRIC", "1.0.0", "1.1.0", "DELTA"]


def test_table_aligns_and_marks_missing_values() -> None:
    text = table(["name", "value"], [["a", None], ["long-name", 3]])
    assert text.splitlines() == ["NAME        VALUE", "a           <none>", "long-name   3"]


def test_parser_accepts_kubectl_plugin_style_arguments() -> None:
    args = build_parser().parse_args(
        ["promote", "m", "1.0.0", "--stage", "production", "-n", "team-a"]
    )
    assert (args.model, args.version, args.stage, args.namespace) == (
        "m",
        "1.0.0",
        "production",
        "team-a",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["promote", "m", "1.0.0", "--stage", "prod"])
    args = build_parser().parse_args(["migrate", "./model", "--model", "m"])
    assert (args.bump, args.stage, args.artifact_root) == ("minor", "draft", "s3://mlops/models")
