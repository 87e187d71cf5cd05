"""mlops_operator: the operator, its API types and the ``mlops`` command line."""

__version__ = "0.1.0"
