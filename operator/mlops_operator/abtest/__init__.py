"""A/B test statistics: pure functions from per-arm counts to a verdict.

:mod:`mlops_operator.statistics.always_valid` is the always-valid test (a mixture sequential
probability ratio test, which is also an asymptotic confidence sequence, shared with the
sequential canary gate), :mod:`.fixed_horizon` the classic two-proportion
z-test evaluated once, :mod:`.sample_ratio` the check that the observed split matches the
weights, and :mod:`.verdict` turns the counts of every arm into the Deployment's
``status.abTest``.
"""
