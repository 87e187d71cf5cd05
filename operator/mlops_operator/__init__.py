"""mlops_operator."""
