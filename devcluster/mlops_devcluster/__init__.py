"""mlops_devcluster."""
