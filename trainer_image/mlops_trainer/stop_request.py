"""SIGTERM as a request to stop at the next step boundary, with a checkpoint.

Kubernetes sends SIGTERM before it kills a pod: when Kueue preempts a run (it suspends the
Job), when a node drains, when the Job is deleted. The handler only sets a flag; the epoch loop
checks it after every optimizer step, writes a checkpoint of that exact step and leaves with
:data:`PREEMPTED_EXIT`. The operator's Job ignores that exit status (a pod failure policy), so
a stopped run uses up no retry, and the next pod resumes from the step.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from mlops_core.progress import PREEMPTED_EXIT_CODE

#: exit status of a trainer that stopped on SIGTERM after saving its step
PREEMPTED_EXIT = PREEMPTED_EXIT_CODE


class Preempted(Exception):  # noqa: N818 (a stop that was asked for, not an error)
    """The run stopped on request at ``epoch``/``step``; ``saved`` says whether it checkpointed."""

    def __init__(self, *, epoch: int, step: int, saved: bool) -> None:
        where = f"epoch {epoch}, step {step}"
        what = "saved a checkpoint there" if saved else "no checkpoint location to save to"
        super().__init__(f"stopped on SIGTERM at {where}; {what}")
        self.epoch = epoch
        self.step = step
        self.saved = saved


class StopRequest:
    """A flag the SIGTERM handler sets and the loop reads."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    def requested(self) -> bool:
        return self._event.is_set()

    def install(self) -> None:
        """Turn SIGTERM into :meth:`request` (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(_signum: int, _frame: FrameType | None) -> None:
            self.request()

        signal.signal(signal.SIGTERM, handle)
