"""mlops_trainer."""
