"""mlops_core."""
