"""mlops_serving."""
