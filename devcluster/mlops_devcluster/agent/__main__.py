"""``python -m mlops_devcluster.agent --dir STATE``: run the node agent of a devcluster."""

from __future__ import annotations

import argparse

from mlops_devcluster.agent.agent import main
from mlops_devcluster.layout import state_dir

parser = argparse.ArgumentParser(prog="python -m mlops_devcluster.agent")
parser.add_argument("--dir", help="the devcluster state folder (default: $MLOPS_DEVCLUSTER_DIR)")
main(state_dir(parser.parse_args().dir))
