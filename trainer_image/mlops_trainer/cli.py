"""Command line: ``python -m mlops_trainer --config FILE`` (or ``--config-json``, or the env).

Exit status 0 with the result in the termination message; on failure exit 1 (2 for an invalid
config) with a one-line reason on stderr and in the termination message, and nothing published.
On SIGTERM the run stops after the current step, checkpoints it and exits 75 (see
``stop_request``): not a failure, and the next start resumes from that step.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from mlops_core.artifact import ArtifactError
from mlops_core.preprocessing import PreprocessingError
from mlops_core.progress import TrainingResult
from mlops_core.storage import StorageError
from mlops_core.training_spec import TrainerConfig
from mlops_trainer.config_source import load_config
from mlops_trainer.distributed import DistributedContext, context_from_env
from mlops_trainer.errors import TrainerError
from mlops_trainer.kube_reporter import kubernetes_reporter_from_env
from mlops_trainer.mlflow_tracking import mlflow_reporter_from_env
from mlops_trainer.reporting import JsonLinesReporter, Reporter, Reporters
from mlops_trainer.run import train_and_publish
from mlops_trainer.stop_request import PREEMPTED_EXIT, Preempted, StopRequest
from mlops_trainer.termination import one_line, write_termination_message

log = logging.getLogger("mlops_trainer")
EXPECTED_ERRORS = (TrainerError, PreprocessingError, StorageError, ArtifactError)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_trainer",
        description="Train a model from the zoo and publish a verified artifact.",
    )
    parser.add_argument("--config", metavar="FILE", help="TrainerConfig as a JSON or YAML file.")
    parser.add_argument(
        "--config-json", metavar="TEXT", help="TrainerConfig inline (JSON or YAML)."
    )
    parser.add_argument("--log-level", default="INFO", help="Logging level on stderr.")
    return parser.parse_args(argv)


def build_reporters(config: TrainerConfig, ctx: DistributedContext) -> Reporters:
    """JSON lines always; Kubernetes status and MLflow on rank 0 when configured."""
    reporters: list[Reporter] = [JsonLinesReporter()]
    if ctx.is_primary:
        try:
            kube = kubernetes_reporter_from_env()
        except Exception as exc:  # reporting must never fail training
            log.warning("status reporting is off: %s", one_line(str(exc), 300))
        else:
            if kube is not None:
                reporters.append(kube)
        mlflow = mlflow_reporter_from_env()
        if mlflow is not None:
            reporters.append(mlflow)
    return Reporters(reporters)


def fail(reason: str, reporters: Reporters | None) -> None:
    result = TrainingResult(succeeded=False, reason=one_line(reason))
    if reporters is not None:
        reporters.finish(result)
    write_termination_message(result)
    print(f"error: {result.reason}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(path=args.config, inline=args.config_json)
        ctx = context_from_env()
    except TrainerError as exc:
        fail(str(exc), None)
        return 2
    reporters = build_reporters(config, ctx)
    stop = StopRequest()
    stop.install()
    try:
        result = train_and_publish(config, ctx=ctx, reporters=reporters, stop=stop)
    except Preempted as exc:
        write_termination_message(TrainingResult(succeeded=False, reason=one_line(str(exc))))
        print(f"stopped: {exc}", file=sys.stderr, flush=True)
        return PREEMPTED_EXIT
    except EXPECTED_ERRORS as exc:
        fail(str(exc), reporters)
        return 1
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        fail(f"{type(exc).__name__}: {exc}", reporters)
        return 1
    reporters.finish(result)
    write_termination_message(result)
    return 0
