"""``python -m mlops_trainer --config FILE``."""

from mlops_trainer.cli import main

raise SystemExit(main())
