"""mlops_serving: the model server and traffic router image."""

__version__ = "0.1.0"
