"""The model registry's rules: semantic versions, stage transitions, Model status."""
