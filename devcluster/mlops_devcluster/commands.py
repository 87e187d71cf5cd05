"""The harness's commands in the ``mlops`` command line: ``mlops devcluster …`` and ``mlops demo``.

The operator's CLI does not know this package: it loads every ``mlops.cli`` entry point
(``pyproject.toml``) and calls it with its sub-parsers, and this module adds its commands there.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlops_devcluster import cli


def _demo(args: argparse.Namespace) -> int:
    from mlops_devcluster.demo import run_demo

    print(run_demo(state_dir=args.dir, timeout=args.timeout, keep=args.keep))
    return 0


def register_commands(subparsers: Any) -> None:
    """Add ``devcluster`` and ``demo`` to the ``mlops`` command line."""
    cli.register(subparsers)  # its handler runs the devcluster command
    text = "start a devcluster and the operator, train the example, serve it, canary the next one"
    demo: argparse.ArgumentParser = subparsers.add_parser("demo", help=text, description=text)
    demo.add_argument("--dir", default=None, help="devcluster state folder")
    demo.add_argument("--timeout", type=float, default=600.0)
    demo.add_argument("--keep", action="store_true", help="leave the devcluster running")
    demo.set_defaults(handler=_demo)
