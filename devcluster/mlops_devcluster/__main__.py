"""``python -m mlops_devcluster``: the devcluster command line on its own."""

from mlops_devcluster.cli import main

raise SystemExit(main())
