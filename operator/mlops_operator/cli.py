"""The ``mlops`` command line (also installed as ``kubectl-mlops``, so ``kubectl mlops ...``).

mlops models [-A]                         the registry's models
mlops versions MODEL                      versions of a model, stage, readiness, metrics
mlops promote MODEL VERSION --stage S     move a version to draft|staging|production|archived
mlops compare MODEL V1 V2                 metrics side by side, hyperparameter diff
mlops migrate DIR --model NAME            register an existing artifact folder
mlops experiment NAME [--plot FILE]       an Experiment's trials by value; plots (.html/.png)
mlops experiments compare A B             two Experiments' best values, parameters, counts
mlops rollout status|pause|resume|promote|abort|retry DEPLOYMENT
                                          follow and steer a Deployment's rollout
mlops demo                                devcluster + operator + example, end to end
mlops devcluster up|down|status|env|logs  the local cluster

``demo`` and ``devcluster`` belong to the development harness (``mlops_devcluster``), which adds
them through the ``mlops.cli`` entry point group: this package never imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mlops_core.storage import StorageError, open_store
from mlops_operator.commands.registry import (
    CommandError,
    Target,
    cmd_compare,
    cmd_models,
    cmd_promote,
    cmd_versions,
)
from mlops_operator.kube import Kube, KubeError, load_api_client
from mlops_operator.registry.stages import STAGES, StageTransitionError

DEFAULT_ARTIFACT_ROOT = "s3://mlops/models"


def _current_namespace(kubeconfig: str | None, context: str | None) -> str:
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
    except (config.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


def _target(args: argparse.Namespace) -> Target:
    kubeconfig = getattr(args, "kubeconfig", None)
    context = getattr(args, "context", None)
    namespace = getattr(args, "namespace", None) or _current_namespace(kubeconfig, context)
    kube = Kube(load_api_client(kubeconfig, context), field_manager="mlops-cli")
    return Target(kube=kube, namespace=namespace)


def _models(args: argparse.Namespace) -> str:
    return cmd_models(_target(args), all_namespaces=args.all_namespaces)


def _versions(args: argparse.Namespace) -> str:
    return cmd_versions(_target(args), args.model)


def _promote(args: argparse.Namespace) -> str:
    return cmd_promote(_target(args), args.model, args.version, args.stage, wait=args.wait)


def _compare(args: argparse.Namespace) -> str:
    return cmd_compare(_target(args), args.model, args.left, args.right)


def _experiment(args: argparse.Namespace) -> str:
    from mlops_operator.commands.experiments import render_report
    from mlops_operator.operations.experiments import experiment_report

    report = experiment_report(_target(args), args.name)
    text = render_report(report)
    if args.plot:
        from mlops_operator.commands.experiment_plots import write_plots

        written = write_plots(report.experiment, report.records, Path(args.plot))
        text += f"\n\nplots written to {written}"
    return text


def _experiments(args: argparse.Namespace) -> str:
    from mlops_operator.commands.experiments import render_comparison
    from mlops_operator.operations.experiments import compare

    return render_comparison(compare(_target(args), args.names))


def _migrate(args: argparse.Namespace) -> str:
    from mlops_operator.operations.migrate import migrate

    done = migrate(
        _target(args),
        directory=Path(args.directory),
        model=args.model,
        version=args.version,
        bump=args.bump,
        stage=args.stage,
        artifact_root=args.artifact_root,
        task=args.task,
        open_store=open_store,
    )
    return (
        f"modelversion/{done.name} created: {done.model} {done.version} ({done.stage})\n"
        f"artifact {done.uri}\ndigest {done.digest}"
    )


def _explain(args: argparse.Namespace) -> str:
    from mlops_operator.commands.explain import explain

    return explain(
        _target(args),
        model=args.model,
        version=args.version,
        input_file=Path(args.input),
        deployment=args.deployment,
        top=args.top,
        prediction_id=args.prediction_id,
    )


def _rollout(args: argparse.Namespace) -> str:
    from mlops_operator.commands.rollout import render_change, render_status
    from mlops_operator.operations.rollout import rollout_pause, rollout_request
    from mlops_operator.operations.serving import get_deployment

    target, name = _target(args), args.deployment
    if args.action == "status":
        return render_status(get_deployment(target, name))
    if args.action in ("pause", "resume"):
        change = rollout_pause(target, name, paused=args.action == "pause")
    else:
        change = rollout_request(target, name, args.action)
    return render_change(change)


#: entry point group of packages that add commands: ``register(subparsers)``; a command sets
#: ``handler`` (``args -> exit code``) as its default
PLUGIN_GROUP = "mlops.cli"


def _plug_in(subparsers: Any) -> None:
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            register = entry.load()
        except ImportError:
            continue  # the package's own dependencies are not installed here
        register(subparsers)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context")
    common.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="MLOps on Kubernetes: the model registry and training runs.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, run: Callable[[argparse.Namespace], str], text: str) -> Any:
        cmd = sub.add_parser(name, parents=[common], help=text, description=text)
        cmd.set_defaults(run=run)
        return cmd

    models = add("models", _models, "list the registry's models")
    models.add_argument("-A", "--all-namespaces", action="store_true")

    versions = add("versions", _versions, "list the versions of a model")
    versions.add_argument("model")

    promote = add("promote", _promote, "move a model version to another stage")
    promote.add_argument("model")
    promote.add_argument("version")
    promote.add_argument("--stage", required=True, choices=STAGES)
    promote.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait until the Model's status shows the change (0: do not wait)",
    )

    compare = add("compare", _compare, "compare two versions of a model")
    compare.add_argument("model")
    compare.add_argument("left", metavar="V1")
    compare.add_argument("right", metavar="V2")

    migrate = add("migrate", _migrate, "register an existing artifact folder as a ModelVersion")
    migrate.add_argument("directory", metavar="DIR")
    migrate.add_argument("--model", required=True)
    migrate.add_argument("--version", default=None, help="default: bump the highest version")
    migrate.add_argument("--bump", choices=("major", "minor", "patch"), default="minor")
    migrate.add_argument("--stage", choices=STAGES, default="draft")
    migrate.add_argument(
        "--task",
        choices=("text-classification", "tabular-classification"),
        default=None,
        help="create the Model with this task if it does not exist",
    )
    migrate.add_argument(
        "--artifact-root",
        default=DEFAULT_ARTIFACT_ROOT,
        help="the artifact goes to ROOT/NAMESPACE/MODEL/VERSION/ (S3 credentials: AWS_* env)",
    )

    experiment = add("experiment", _experiment, "an Experiment's trials, best first")
    experiment.add_argument("name", metavar="NAME")
    experiment.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="also write optimization history, parameter importances and parallel "
        "coordinates to FILE (.html, .png, .svg or .pdf)",
    )

    experiments = add("experiments", _experiments, "compare two or more Experiments")
    experiments_sub = experiments.add_subparsers(dest="action", required=True, metavar="ACTION")
    compare_exp = experiments_sub.add_parser(
        "compare", parents=[common], help="best values, parameters and trial counts side by side"
    )
    compare_exp.add_argument("names", metavar="NAME", nargs="+", help="two or more Experiments")

    explain = add("explain", _explain, "why a served version predicts what it does (SHAP)")
    explain.add_argument("model")
    explain.add_argument(
        "version", nargs="?", default=None, help="default: the prediction id's, else the router's"
    )
    explain.add_argument(
        "--input", required=True, metavar="FILE", help="JSON: a list of records, or one record"
    )
    explain.add_argument(
        "--prediction-id",
        default=None,
        metavar="ID",
        help="the prediction to explain: the version that made it explains it",
    )
    explain.add_argument("--top", type=int, default=5, help="features shown per instance")
    explain.add_argument("--deployment", default=None, help="when several serve the model")

    rollout = add("rollout", _rollout, "follow and steer the rollout of a Deployment")
    rollout.add_argument(
        "action",
        choices=("status", "pause", "resume", "promote", "abort", "retry"),
        help="status; pause/resume (spec.paused); promote (skip the remaining steps), abort "
        "(back to stable now), retry (a failed or aborted version)",
    )
    rollout.add_argument("deployment", metavar="DEPLOYMENT")

    _plug_in(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    try:
        print(args.run(args))
    except (CommandError, KubeError, StageTransitionError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
