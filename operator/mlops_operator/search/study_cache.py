"""Replayed studies kept between reconciles, by the Experiment's uid and its trial count.

Replaying a study (``search/study.py``) asks the sampler once per trial, so one reconcile of an
Experiment with n trials costs n sampler calls and a search of N trials about N²/2 over its
life. The study a reconcile leaves behind is what the next replay would rebuild, as long as the
trials are the same: it is kept under the Experiment's uid and the number of trials it holds,
and reused when the next reconcile reads that many trials with the same numbers and parameters
and the same study settings. Anything else (a trial added or deleted elsewhere, the spec
changed, a creation that failed half-way, a replay that drifted, an operator restart) replays
afresh, so the cache changes the cost, never the answer.

A study is taken out while one reconcile uses it and put back only when that reconcile has
finished without an error: a reconcile that failed after asking or pruning leaves nothing
behind that the trials do not record.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from mlops_operator.search.record import TrialRecord
from mlops_operator.search.study import SearchStudy, StudySettings

#: Experiments whose studies are kept (least recently used dropped first)
KEPT_MAX: Final = 256


class StudyCache:
    def __init__(self, *, size: int = KEPT_MAX) -> None:
        self._size = size
        self._kept: OrderedDict[str, tuple[int, SearchStudy]] = OrderedDict()
        self._guard = threading.Lock()
        #: replays run (cache misses), for tests and the operator's own measurements
        self.replays = 0

    def take(
        self, uid: str, settings: StudySettings, records: Sequence[TrialRecord]
    ) -> SearchStudy:
        """The study of Experiment ``uid`` for these trials: the kept one when it holds
        exactly them, else a fresh replay."""
        with self._guard:
            kept = self._kept.pop(uid, None)
        if kept is not None:
            count, study = kept
            if count == len(records) and study.holds(settings, records):
                study.records = list(records)
                return study
        with self._guard:
            self.replays += 1
        return SearchStudy(settings, list(records))

    def keep(self, uid: str, study: SearchStudy, *, trials: int) -> None:
        """Keep ``study`` (now holding ``trials`` trials) for the Experiment's next reconcile."""
        if not study.exact:
            return
        with self._guard:
            self._kept[uid] = (trials, study)
            self._kept.move_to_end(uid)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def forget(self, uid: str) -> None:
        with self._guard:
            self._kept.pop(uid, None)
