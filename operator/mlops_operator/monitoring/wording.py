"""Words the monitoring messages share."""

from __future__ import annotations


def pods_text(count: int) -> str:
    """``1 pod``, ``2 pods``: how many pods a figure was read from."""
    return f"{count} pod" if count == 1 else f"{count} pods"
