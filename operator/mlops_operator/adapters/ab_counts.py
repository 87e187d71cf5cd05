"""Count each A/B arm's samples from the pods: accuracy from the servers' feedback tallies,
error-rate from the routers' per-version request counters (``adapters.router_metrics``).

Counts are summed over every pod that answers. A pod's tallies live in its memory, so a
restarted pod starts again from zero: the sums can fall, and the A/B verdict treats what it
is given as the current totals (its always-valid p-value never rises again, whatever the
counts do). Pods that do not answer are listed with the reason.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.drift_reader import PodEndpoint
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
    samples: defaultdict[str, int] = defaultdict(int)
    correct: defaultdict[str, int] = defaultdict(int)
    unreadable: list[str] = []
    for pod in servers:
        try:
            body = json.loads(
                _get(f"http://{pod.address}/mlops/models/{quote(model)}/accuracy", timeout)
            )
            for item in body["versions"]:
                n = int(item["samples"])
                samples[item["version"]] += n
                correct[item["version"]] += round(float(item["accuracy"] or 0.0) * n)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"{pod.name}: {exc}"[:256])
    counts = [ArmCounts(v, samples[v], min(correct[v], samples[v])) for v in sorted(samples)]
    return ArmTallies(counts, unreadable)


def router_error_counts(scrape: RouterScrape) -> ArmTallies:
    """Requests and failed ones (HTTP 5xx) per version, from the routers' metrics (summed over
    the router pods that answered the reconcile's one scrape)."""
    totals = scrape.answered()
    counts = [ArmCounts(v, snap.requests, snap.errors) for v, snap in totals.versions.items()]
    unreadable = [f"{address}: {problem}"[:256] for address, problem in scrape.unreadable.items()]
    return ArmTallies(counts, unreadable)


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http://)
            body: bytes = response.read(BODY_MAX + 1)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ValueError(f"unreachable: {exc.reason}") from None
    if len(body) > BODY_MAX:
        raise ValueError(f"answer larger than {BODY_MAX} bytes")
    return body
