"""The ``mlops`` command line's commands, one module per group."""
