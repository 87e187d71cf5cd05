"""Always-valid statistics shared by the A/B verdict and the sequential canary gate: pure
functions on floats and numpy arrays.

:mod:`.always_valid` is the mixture sequential probability ratio test of two proportions (also an
asymptotic confidence sequence); :mod:`.non_inferiority` asks of the same confidence sequence
whether a new version is worse than the stable one by more than a tolerance.
"""
