"""The trainer's error: bad input or a failed run, with a one-line reason that says what to fix."""

from __future__ import annotations


class TrainerError(Exception):
    """A run that cannot succeed; the message is the reason shown to the user."""
