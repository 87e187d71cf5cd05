"""Count each A/B arm's samples from the pods: accuracy from the servers' feedback tallies,
error-rate from the routers' per-version request counters.

Counts are summed over every pod that answers. A pod's tallies live in its memory, so a
restarted pod starts again from zero: the sums can fall, and the A/B verdict treats what it
is given as the current totals (its always-valid p-value never rises again, whatever the
counts do). Pods that do not answer are listed with the reason.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.drift_reader import PodEndpoint
from mlops_operator.adapters.pod_reads import read_all

BODY_MAX: Final = 4 * 1024 * 1024
_REQUESTS = re.compile(r"^mlops_router_requests_total\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ArmTallies:
    """Per-version counts, and the pods that could not be read."""

    counts: list[ArmCounts]
    unreadable: list[str] = field(default_factory=list)


def read_accuracy(
    servers: Sequence[PodEndpoint], *, model: str, timeout: float = 5.0
) -> ArmTallies:
    """Labelled predictions and correct ones per version (``/mlops/models/{model}/accuracy``),
    the pods side by side."""
    samples: defaultdict[str, int] = defaultdict(int)
    correct: defaultdict[str, int] = defaultdict(int)
    unreadable: list[str] = []

    def read(pod: PodEndpoint) -> Any:
        try:
            return json.loads(
                _get(f"http://{pod.address}/mlops/models/{quote(model)}/accuracy", timeout)
            )
        except (OSError, ValueError) as exc:
            return exc

    for pod, body in zip(servers, read_all(servers, read), strict=True):
        if isinstance(body, Exception):
            unreadable.append(f"{pod.name}: {body}"[:256])
            continue
        try:
            for item in body["versions"]:
                n = int(item["samples"])
                samples[item["version"]] += n
                correct[item["version"]] += round(float(item["accuracy"] or 0.0) * n)
        except (ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"{pod.name}: {exc}"[:256])
    counts = [ArmCounts(v, samples[v], min(correct[v], samples[v])) for v in sorted(samples)]
    return ArmTallies(counts, unreadable)


def read_error_counts(routers: Sequence[PodEndpoint], *, timeout: float = 5.0) -> ArmTallies:
    """Requests and failed ones (HTTP 5xx) per version, from the routers' ``/metrics``, the
    pods side by side."""
    total: defaultdict[str, int] = defaultdict(int)
    failed: defaultdict[str, int] = defaultdict(int)
    unreadable: list[str] = []

    def read(pod: PodEndpoint) -> str | Exception:
        try:
            return _get(f"http://{pod.address}/metrics", timeout).decode()
        except (OSError, ValueError) as exc:
            return exc

    for pod, text in zip(routers, read_all(routers, read), strict=True):
        if isinstance(text, Exception):
            unreadable.append(f"{pod.name}: {text}"[:256])
            continue
        for version, code, value in parse_router_requests(text):
            total[version] += value
            if code >= 500:
                failed[version] += value
    return ArmTallies([ArmCounts(v, total[v], failed[v]) for v in sorted(total)], unreadable)


def parse_router_requests(text: str) -> list[tuple[str, int, int]]:
    """``(version, code, count)`` of every ``mlops_router_requests_total`` sample."""
    found = []
    for line in text.splitlines():
        match = _REQUESTS.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        if "version" in labels and labels.get("code", "").isdigit():
            found.append((labels["version"], int(labels["code"]), int(float(match.group(2)))))
    return found


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
