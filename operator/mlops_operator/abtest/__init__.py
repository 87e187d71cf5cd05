"""A/B test statistics: pure functions from per-arm counts to a verdict.

:mod:`.sequential` is the always-valid test (a mixture sequential probability ratio test, which
is also an asymptotic confidence sequence), :mod:`.fixed_horizon` the classic two-proportion
z-test evaluated once, :mod:`.sample_ratio` the check that the observed split matches the
weights, and :mod:`.verdict` turns the counts of every arm into the Deployment's
``status.abTest``.
"""
