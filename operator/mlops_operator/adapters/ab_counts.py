"""Count each A/B arm's samples from the pods: accuracy from the servers' feedback tallies,
error-rate from the routers' per-version request counters (``adapters.router_metrics``).

Counts are summed over every pod that answers; the servers are read side by side
(``adapters.pod_reads``), so one pod that does not answer costs one timeout, not one each. A
pod's tallies live in its memory, so a restarted pod starts again from zero: the sums can fall,
and the A/B verdict treats what it is given as the current totals (its always-valid p-value
never rises again, whatever the counts do). Pods that do not answer are listed with the reason.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.drift_reader import PodEndpoint
from mlops_operator.adapters.pod_reads import get_bounded, read_all
from mlops_operator.adapters.router_metrics import RouterScrape

BODY_MAX: Final = 4 * 1024 * 1024


@dataclass(frozen=True)
class ArmTallies:
    """Per-version counts, and the pods that could not be read."""

    counts: list[ArmCounts]
    unreadable: list[str] = field(default_factory=list)


def read_accuracy(
    servers: Sequence[PodEndpoint], *, model: str, timeout: float = 5.0
) -> ArmTallies:
    """Labelled predictions and correct ones per version (``/mlops/models/{model}/accuracy``)."""
    url_path = f"/mlops/models/{quote(model)}/accuracy"

    def read(pod: PodEndpoint) -> list[tuple[str, int, int]] | str:
        """(version, samples, correct) of each version the pod tallied, or why none."""
        try:
            body = json.loads(
                get_bounded(f"http://{pod.address}{url_path}", timeout=timeout, limit=BODY_MAX)
            )
            tallies = []
            for item in body["versions"]:
                n = int(item["samples"])
                tallies.append((str(item["version"]), n, round(float(item["accuracy"] or 0.0) * n)))
        except (ValueError, KeyError, TypeError) as exc:
            return f"{pod.name}: {exc}"[:256]
        return tallies

    samples: defaultdict[str, int] = defaultdict(int)
    correct: defaultdict[str, int] = defaultdict(int)
    unreadable: list[str] = []
    for answer in read_all(servers, read):
        if isinstance(answer, str):
            unreadable.append(answer)
            continue
        for version, n, right in answer:
            samples[version] += n
            correct[version] += right
    counts = [ArmCounts(v, samples[v], min(correct[v], samples[v])) for v in sorted(samples)]
    return ArmTallies(counts, unreadable)


def router_error_counts(scrape: RouterScrape) -> ArmTallies:
    """Requests and failed ones (HTTP 5xx) per version, from the routers' metrics (summed over
    the router pods that answered the reconcile's one scrape)."""
    totals = scrape.answered()
    counts = [ArmCounts(v, snap.requests, snap.errors) for v, snap in totals.versions.items()]
    unreadable = [f"{address}: {problem}"[:256] for address, problem in scrape.unreadable.items()]
    return ArmTallies(counts, unreadable)
