"""``python -m mlops_trainer --config FILE``."""

import logging
import os
import sys

from mlops_trainer.cli import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
# Leave without running native finalizers: with torch and pyarrow both loaded, their thread pools
# can abort the process while it exits ("terminate called without an active exception"), which
# would turn a clean exit status into 134. Everything the run writes is flushed by now.
os._exit(code)
